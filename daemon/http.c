/*
 * http.c - the HTTP API (docs/API.md) on the I/O thread.
 *
 * Every request goes through on_request, which replies exactly once:
 * either at once (health, metrics, listing, errors found before any work)
 * or, for deploys and invocations, from job_done when a worker has
 * finished the job.  Handlers only parse, authenticate, check limits and
 * hand off; they never compile or run guest code.
 *
 *   GET    /healthz  /readyz  /metrics
 *   GET    /v1/components
 *   POST   /v1/components/{name}          (PUT too)  deploy
 *   GET    /v1/components/{name}
 *   DELETE /v1/components/{name}
 *   POST   /v1/components/{name}/invoke
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <math.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"

enum { R_HEALTH, R_METRICS, R_LIST, R_COMPONENT, R_INVOKE, R_OTHER };
static const char *const route_names[] = {"health", "metrics", "list", "component", "invoke",
                                          "other"};
static const double latency_bounds[12] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                          0.01, 0.025, 0.05, 0.1, 1.0, 10.0};

static SSL_CTX *tls_ctx;

/* One I/O thread: its own event loop and evhttp (evhttp is not
 * thread-safe), accepting on its own dup() of every listening socket.
 * ios[0] runs on the main thread's d->base (with the signal events); the
 * others on their own threads.  A job's completion event lives on the
 * base of the thread that received its request. */
typedef struct conn_clock conn_clock_t;
typedef struct wh_io {
  wh_daemon_t *d;
  uint32_t index;
  struct event_base *base;
  struct evhttp *http;
  struct evhttp_bound_socket *bound[WH_CFG_MAX_LISTEN];
  uint32_t nbound;
  conn_clock_t *clocks[1024];     /* request clocks of this thread's connections,
                                   * chained by their bufferevent's address */
  struct event *sweep;
  struct event *done_ev;          /* active while done_head has jobs */
  struct event *wake_ev;          /* wakes idle workers for queued jobs */
  bool wake_pending;              /* wake_ev is active */
  _Atomic(wh_job_t *) done_head;  /* finished jobs, newest first (workers push) */
  uint64_t rid_key, rid_seq;      /* request ids (request_id) */
  pthread_t thread;
  bool running;                   /* thread started (index > 0) */
} wh_io_t;

static wh_io_t *ios;
static uint32_t nios;

/* ---- whole-request deadline -----------------------------------------------
 *
 * evhttp's timeout restarts at every read, so a client sending a byte now
 * and then could hold a connection forever.  Each connection therefore
 * gets a clock (conn_clock_t, made with its bufferevent in conn_bev) fed
 * by a callback on the connection's input buffer: the first byte of a
 * request starts it, the request's completion (on_request) stops it, and a
 * byte arriving more than request_timeout after the start shuts the socket
 * down, after which evhttp sees end-of-file and closes the connection.  A
 * client that goes silent meets evhttp's own idle timeout instead.
 *
 * Lifetime: libevent says nothing when a connection's bufferevent is
 * freed, so a clock learns its socket (fd and inode) from the first byte,
 * while the bufferevent surely lives, and a sweep every quarter timeout
 * frees the clocks whose socket is gone (closed, or its fd reused by
 * another socket: the inode differs) or that never saw a byte within two
 * timeouts (evhttp closes such a connection after one).  The buffer
 * callback touches its clock only when bytes were added, never while the
 * buffer is being freed.  I/O thread only. */

struct conn_clock {
  struct bufferevent *bev;        /* NULL once known stale */
  wh_io_t *io;
  int fd;                         /* -1 until the first byte */
  ino_t ino;
  uint64_t created_us, started_us;  /* started_us 0: between requests */
  struct conn_clock *next;
};

#define CLOCK_BUCKETS (sizeof ((wh_io_t *)0)->clocks / sizeof (conn_clock_t *))

static conn_clock_t **clock_bucket(wh_io_t *io, const struct bufferevent *bev) {
  uintptr_t h = (uintptr_t)bev >> 4;
  return &io->clocks[(h ^ (h >> 10)) % CLOCK_BUCKETS];
}

static conn_clock_t *clock_of(wh_io_t *io, const struct bufferevent *bev) {
  for (conn_clock_t *k = *clock_bucket(io, bev); k; k = k->next)
    if (k->bev == bev) return k;
  return NULL;
}

static bool clock_socket_gone(const conn_clock_t *k) {
  struct stat st;
  return fstat(k->fd, &st) != 0 || st.st_ino != k->ino;
}

static void clock_sweep(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  wh_io_t *io = arg;
  uint64_t now = wh_now_us(), limit = io->d->cfg.request_timeout_ms * 1000;
  for (size_t b = 0; b < CLOCK_BUCKETS; b++)
    for (conn_clock_t **p = &io->clocks[b]; *p;) {
      conn_clock_t *k = *p;
      bool gone = k->fd >= 0 ? clock_socket_gone(k) : now - k->created_us > 2 * limit;
      if (gone) {
        *p = k->next;
        free(k);
      } else {
        p = &k->next;
      }
    }
}

static void clock_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg) {
  (void)buf;
  if (info->n_added == 0) return;      /* drained, or being freed: hands off */
  conn_clock_t *k = arg;
  uint64_t now = wh_now_us();
  if (k->fd < 0 && k->bev) {
    struct stat st;
    k->fd = bufferevent_getfd(k->bev);
    if (k->fd >= 0 && fstat(k->fd, &st) == 0) k->ino = st.st_ino;
    else k->fd = -1;
  }
  if (!k->started_us) {
    k->started_us = now;
  } else if (now - k->started_us > k->io->d->cfg.request_timeout_ms * 1000 && k->fd >= 0) {
    atomic_fetch_add(&k->io->d->request_timeouts, 1);
    wh_log(WH_LOG_INFO, "closing a connection: its request took over request_timeout (%llu ms)",
           (unsigned long long)k->io->d->cfg.request_timeout_ms);
    shutdown(k->fd, SHUT_RDWR);
    k->started_us = 0;
  }
}

/* The request is complete: no deadline while it runs. */
static void clock_stop(wh_io_t *io, struct evhttp_request *req) {
  struct evhttp_connection *evcon = evhttp_request_get_connection(req);
  struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
  conn_clock_t *k = bev ? clock_of(io, bev) : NULL;
  if (k) k->started_us = 0;
}

/* evhttp's bufferevent for a new connection (TLS or plain) with its
 * request clock. */
static struct bufferevent *conn_bev(struct event_base *base, void *arg) {
  wh_io_t *io = arg;
  struct bufferevent *bev;
  if (tls_ctx) {
    SSL *ssl = SSL_new(tls_ctx);
    if (!ssl) return NULL;
    bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
  } else {
    bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
  }
  if (!bev) return NULL;
  /* a clock still naming this address belonged to a freed bufferevent */
  for (conn_clock_t *old = clock_of(io, bev); old; old = clock_of(io, bev)) old->bev = NULL;
  conn_clock_t *k = calloc(1, sizeof *k);
  if (!k || !evbuffer_add_cb(bufferevent_get_input(bev), clock_input, k)) {
    free(k);
    return bev;                    /* serves, only without the deadline */
  }
  k->bev = bev;
  k->io = io;
  k->fd = -1;
  k->created_us = wh_now_us();
  conn_clock_t **slot = clock_bucket(io, bev);
  k->next = *slot;
  *slot = k;
  return bev;
}

static int clock_start_sweep(wh_io_t *io) {
  uint64_t us = io->d->cfg.request_timeout_ms * 1000 / 4;
  if (us < 10000) us = 10000;
  struct timeval tv = {.tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000)};
  io->sweep = event_new(io->base, -1, EV_PERSIST, clock_sweep, io);
  return io->sweep && event_add(io->sweep, &tv) == 0 ? 0 : WH_ENOMEM;
}

static void clock_fini(wh_io_t *io) {
  if (io->sweep) event_free(io->sweep);
  io->sweep = NULL;
  for (size_t b = 0; b < CLOCK_BUCKETS; b++)
    while (io->clocks[b]) {
      conn_clock_t *k = io->clocks[b];
      io->clocks[b] = k->next;
      free(k);
    }
}

/* ---- replies ------------------------------------------------------------- */

static void count(wh_daemon_t *d, int route, int status, uint64_t start_us) {
  int cls = status / 100;
  if (cls < 1 || cls > 5) cls = 5;
  atomic_fetch_add(&d->http_requests[route][cls], 1);
  uint64_t us = wh_now_us() - start_us;
  double s = us / 1e6;
  for (int i = 0; i < 12; i++)
    if (s <= latency_bounds[i]) atomic_fetch_add(&d->latency_bucket[i], 1);
  atomic_fetch_add(&d->latency_count, 1);
  atomic_fetch_add(&d->latency_sum_us, us);
}

static void log_request(struct evhttp_request *req, const char *tenant, int status,
                        uint64_t start_us, const char *rid) {
  static const char *const methods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS",
                                        "TRACE", "CONNECT", "PATCH"};
  enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
  const char *m = "?";
  for (unsigned i = 0; i < 9; i++)
    if ((unsigned)cmd == 1u << i) m = methods[i];
  wh_log(WH_LOG_INFO, "%s %s %s %d %lluus id=%s", tenant ? tenant : "-", m,
         evhttp_request_get_uri(req), status, (unsigned long long)(wh_now_us() - start_us), rid);
}

static _Atomic uint32_t replies_writing;   /* sent, not yet fully written */

static void reply_written(struct evhttp_request *req, void *arg) {
  (void)req;
  (void)arg;
  atomic_fetch_sub(&replies_writing, 1);
}

uint32_t wh_http_replies_pending(void) { return atomic_load(&replies_writing); }

/* Sends `body` (consumed) with `status`; the one exit of every request. */
static void reply_json(struct evhttp_request *req, int status, json_t *body, const char *rid) {
  struct evbuffer *buf = evbuffer_new();
  char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
  if (body) json_decref(body);
  struct evkeyvalq *h = evhttp_request_get_output_headers(req);
  if (text) {
    evbuffer_add(buf, text, strlen(text));
    evbuffer_add(buf, "\n", 1);
    evhttp_add_header(h, "Content-Type", "application/json");
    free(text);
  }
  if (rid) evhttp_add_header(h, "X-Request-Id", rid);
  if (status == 503) evhttp_add_header(h, "Retry-After", "1");
  const char *reason = status == 200 ? "OK" : status == 201 ? "Created" : status == 400 ? "Bad Request"
                     : status == 401 ? "Unauthorized" : status == 403 ? "Forbidden"
                     : status == 404 ? "Not Found" : status == 405 ? "Method Not Allowed"
                     : status == 413 ? "Payload Too Large" : status == 415 ? "Unsupported Media Type"
                     : status == 422 ? "Unprocessable Entity" : status == 429 ? "Too Many Requests"
                     : status == 503 ? "Service Unavailable" : "Internal Server Error";
  atomic_fetch_add(&replies_writing, 1);
  evhttp_request_set_on_complete_cb(req, reply_written, NULL);
  evhttp_send_reply(req, status, reason, buf);
  evbuffer_free(buf);
}

static json_t *error_body(const char *code, const char *msg) {
  return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
}

typedef struct reqctx {
  wh_daemon_t *d;
  wh_io_t *io;                    /* the thread the request arrived on */
  struct evhttp_request *req;
  uint64_t start_us;
  char rid[17];
  int route;
  wh_tenant_t *tenant;
} reqctx_t;

static void finish(reqctx_t *c, int status, json_t *body) {
  reply_json(c->req, status, body, c->rid);
  count(c->d, c->route, status, c->start_us);
  log_request(c->req, c->tenant ? c->tenant->name : NULL, status, c->start_us, c->rid);
}

static void finish_error(reqctx_t *c, int status, const char *code, const char *msg) {
  finish(c, status, error_body(code, msg));
}

/* ---- authentication ------------------------------------------------------ */

wh_tenant_t *wh_tenant_by_key(wh_daemon_t *d, const char *key, size_t len) {
  unsigned char md[32];
  unsigned mdlen = 0;
  EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL);
  wh_tenant_t *found = NULL;
  pthread_rwlock_rdlock(&d->cfg_lock);
  for (uint32_t i = 0; i < d->ntenants; i++) {   /* no early exit: constant time */
    wh_tenant_t *t = &d->tenants[i];
    if (t->present && CRYPTO_memcmp(t->cfg.key_sha256, md, 32) == 0) found = t;
  }
  pthread_rwlock_unlock(&d->cfg_lock);
  return found;
}

static wh_tenant_t *authenticate(reqctx_t *c) {
  const char *h = evhttp_find_header(evhttp_request_get_input_headers(c->req), "Authorization");
  if (!h) {
    finish_error(c, 401, "unauthorized", "send Authorization: Bearer <key>");
    return NULL;
  }
  if (strncasecmp(h, "Bearer ", 7) != 0) {
    finish_error(c, 401, "unauthorized", "the Authorization scheme must be Bearer");
    return NULL;
  }
  const char *key = h + 7;
  wh_tenant_t *t = wh_tenant_by_key(c->d, key, strlen(key));
  if (!t) finish_error(c, 401, "unauthorized", "unknown API key");
  c->tenant = t;
  return t;
}

/* ---- component routes ------------------------------------------------------ */

static json_t *entry_json(const wh_reg_entry_t *e) {
  return json_pack("{s:s, s:i, s:s, s:I, s:I}", "name", e->name, "version", (int)e->version,
                   "digest", e->digest, "size", (json_int_t)e->size, "created_ms",
                   (json_int_t)e->created_ms);
}

static void do_list(reqctx_t *c) {
  wh_reg_entry_t *es = NULL;
  size_t n = 0;
  if (wh_reg_list(c->d->reg, c->tenant->name, &es, &n) != 0) {
    finish_error(c, 500, "storage_error", "cannot read the registry");
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(arr, entry_json(&es[i]));
  free(es);
  finish(c, 200, json_pack("{s:o}", "components", arr));
}

static wh_job_t *new_job(reqctx_t *c, int kind) {
  wh_job_t *job = calloc(1, sizeof *job);
  if (!job) return NULL;
  job->kind = kind;
  job->d = c->d;
  job->req = c->req;
  job->start_us = c->start_us;
  memcpy(job->request_id, c->rid, sizeof job->request_id);
  job->tenant = c->tenant;
  job->io = c->io;
  return job;
}

static void submit(reqctx_t *c, wh_job_t *job) {
  wh_daemon_t *d = c->d;
  atomic_fetch_add(&d->in_flight, 1);
  bool wake = false;
  if (wh_exec_submit(d, job, &wake)) {
    /* wake the workers once, after this loop iteration's other ready
     * requests are queued too: the wake event joins the end of the
     * active queue */
    if (wake && !c->io->wake_pending) {
      c->io->wake_pending = true;
      event_active(c->io->wake_ev, EV_READ, 0);
    }
  } else {
    atomic_fetch_sub(&d->in_flight, 1);
    if (job->kind == WH_JOB_INVOKE) atomic_fetch_sub(&job->tenant->running, 1);
    wh_job_free(job);
    finish_error(c, 503, "queue_full", "every executor is busy and the queue is full; retry");
  }
}

static void do_deploy(reqctx_t *c, const char *name) {
  struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
  size_t len = evbuffer_get_length(in);
  pthread_rwlock_rdlock(&c->d->cfg_lock);
  uint64_t max = c->tenant->cfg.limits.max_component_size;
  pthread_rwlock_unlock(&c->d->cfg_lock);
  if (len == 0) {
    finish_error(c, 400, "empty_body", "send the component or module bytes as the body");
    return;
  }
  if (len > max) {
    char msg[128];
    snprintf(msg, sizeof msg, "%zu bytes; this tenant's max_component_size is %llu", len,
             (unsigned long long)max);
    finish_error(c, 413, "too_large", msg);
    return;
  }
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(c->req);
  char *options = NULL, why[256];
  int rc = wh_deps_parse_options(uri ? evhttp_uri_get_query(uri) : NULL, &options, why,
                                 sizeof why);
  if (rc) {
    finish_error(c, rc == WH_ENOMEM ? 500 : 400, rc == WH_ENOMEM ? "internal" : "bad_request",
                 why);
    return;
  }
  wh_job_t *job = new_job(c, WH_JOB_DEPLOY);
  if (!job || !(job->body = malloc(len))) {
    free(options);
    wh_job_free(job);
    finish_error(c, 500, "internal", "out of memory");
    return;
  }
  job->options = options;
  evbuffer_remove(in, job->body, len);
  job->body_len = len;
  size_t nl = strnlen(name, WH_REG_NAME_MAX);   /* checked by the router */
  memcpy(job->name, name, nl);
  job->name[nl] = '\0';
  submit(c, job);
}

static void do_get(reqctx_t *c, const char *name) {
  wh_deployment_t *dep = wh_deps_get(c->d, c->tenant->name, name);
  if (!dep) {
    finish_error(c, 404, "not_found", "no component of that name");
    return;
  }
  json_t *desc = wh_deps_describe(dep);
  json_object_set_new(desc, "created_ms", json_integer(dep->reg.created_ms));
  wh_deps_tier_json(dep, desc);   /* now: tier auto moves it to native */
  wh_dep_unref(dep);
  finish(c, 200, desc);
}

/* A delete writes the registry and the cache index (fsyncs): a worker
 * does it (executor.c run_delete), not the I/O thread. */
static void do_delete(reqctx_t *c, const char *name) {
  wh_job_t *job = new_job(c, WH_JOB_DELETE);
  if (!job) {
    finish_error(c, 500, "internal", "out of memory");
    return;
  }
  size_t nl = strnlen(name, WH_REG_NAME_MAX);   /* checked by the router */
  memcpy(job->name, name, nl);
  job->name[nl] = '\0';
  submit(c, job);
}

/* Checks one JSON argument against a wasm type; fills `why` if wrong. */
static bool arg_ok(json_t *a, char type, char *why, size_t n, size_t index) {
  static const char *const names[] = {"i32", "i64", "f32", "f64"};
  const char *tname = names[type == 'i' ? 0 : type == 'I' ? 1 : type == 'f' ? 2 : 3];
  const char *got = json_is_integer(a) ? "integer" : json_is_real(a) ? "number"
                  : json_is_string(a) ? "string" : json_is_boolean(a) ? "boolean"
                  : json_is_null(a) ? "null" : json_is_array(a) ? "array" : "object";
  switch (type) {
  case 'i':
    if (json_is_integer(a) && json_integer_value(a) >= INT32_MIN &&
        json_integer_value(a) <= (json_int_t)UINT32_MAX)
      return true;
    if (json_is_integer(a)) {
      snprintf(why, n, "args[%zu]: %lld does not fit in i32", index,
               (long long)json_integer_value(a));
      return false;
    }
    break;
  case 'I':
    if (json_is_integer(a)) return true;
    if (json_is_string(a)) {
      const char *s = json_string_value(a);
      char *end;
      errno = 0;
      if (s[0] == '-') (void)strtoll(s, &end, 10);
      else (void)strtoull(s, &end, 10);
      if (*s && !*end && !errno) return true;
      snprintf(why, n, "args[%zu]: \"%.40s\" is not a 64-bit integer", index, s);
      return false;
    }
    break;
  default:
    if (json_is_number(a)) return true;
    if (json_is_string(a)) {
      const char *s = json_string_value(a);
      if (!strcmp(s, "NaN") || !strcmp(s, "Infinity") || !strcmp(s, "-Infinity")) return true;
    }
    break;
  }
  snprintf(why, n, "args[%zu]: expected %s, got %s", index, tname, got);
  return false;
}

static void do_invoke(reqctx_t *c, const char *name) {
  wh_daemon_t *d = c->d;
  struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
  size_t len = evbuffer_get_length(in);
  json_error_t jerr;
  json_t *body = len ? json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &jerr) : NULL;
  wh_deployment_t *dep = NULL;
  wh_job_t *job = NULL;
  char why[256];
  if (!body || !json_is_object(body)) {
    if (body) snprintf(why, sizeof why, "the body must be a JSON object");
    else if (len) snprintf(why, sizeof why, "invalid JSON at line %d column %d: %s", jerr.line,
                           jerr.column, jerr.text);
    else snprintf(why, sizeof why, "send {\"export\": NAME, \"args\": [...]}");
    finish_error(c, 400, "bad_request", why);
    goto out;
  }
  json_t *jexport = json_object_get(body, "export"), *jargs = json_object_get(body, "args");
  json_t *jfuel = json_object_get(body, "fuel");
  if (!json_is_string(jexport)) {
    finish_error(c, 400, "bad_request", "\"export\" must be a string");
    goto out;
  }
  if (!jargs) jargs = json_array();
  else json_incref(jargs);
  if (jfuel && (!json_is_integer(jfuel) || json_integer_value(jfuel) < 0)) {
    json_decref(jargs);
    finish_error(c, 400, "bad_request", "\"fuel\" must be a non-negative integer");
    goto out;
  }
  dep = wh_deps_get(d, c->tenant->name, name);
  if (!dep) {
    json_decref(jargs);
    finish_error(c, 404, "not_found", "no component of that name");
    goto out;
  }
  /* a component's export and args are checked against its types by the
   * worker (after instantiation); a core module's here */
  const char *ps = "", *rs;
  if (dep->component) {
    if (!json_is_array(jargs) && !json_is_object(jargs)) {
      json_decref(jargs);
      finish_error(c, 400, "bad_args", "\"args\" must be an array or an object of named "
                                       "parameters");
      goto out;
    }
  } else if (!json_is_array(jargs)) {
    json_decref(jargs);
    finish_error(c, 400, "bad_args", "\"args\" must be an array for a core module's export");
    goto out;
  } else if (wh_module_export_functype(dep->module, json_string_value(jexport), &ps, &rs) != 0) {
    json_decref(jargs);
    snprintf(why, sizeof why, "no exported function \"%.100s\"", json_string_value(jexport));
    finish_error(c, 404, "export_not_found", why);
    goto out;
  }
  if (!dep->component && json_array_size(jargs) != strlen(ps)) {
    snprintf(why, sizeof why, "\"%.100s\" takes %zu argument(s), got %zu",
             json_string_value(jexport), strlen(ps), json_array_size(jargs));
    json_decref(jargs);
    finish_error(c, 400, "bad_args", why);
    goto out;
  }
  for (size_t i = 0; ps[i]; i++) {
    if (ps[i] == 'r' || ps[i] == 'e') {
      json_decref(jargs);
      finish_error(c, 400, "bad_args", "reference-typed parameters cannot be passed over HTTP");
      goto out;
    }
    if (!arg_ok(json_array_get(jargs, i), ps[i], why, sizeof why, i)) {
      json_decref(jargs);
      finish_error(c, 400, "bad_args", why);
      goto out;
    }
  }
  /* limits: concurrency, fuel rate, fuel cap, wall time, memory */
  pthread_rwlock_rdlock(&d->cfg_lock);
  wh_cfg_limits_t lim = c->tenant->cfg.limits;
  pthread_rwlock_unlock(&d->cfg_lock);
  wh_tenant_t *t = c->tenant;
  if (atomic_fetch_add(&t->running, 1) >= lim.max_concurrency) {
    atomic_fetch_sub(&t->running, 1);
    json_decref(jargs);
    finish_error(c, 429, "concurrency_limit", "too many invocations running for this tenant");
    goto out;
  }
  if (lim.fuel_per_second) {
    pthread_mutex_lock(&t->bucket_lock);
    uint64_t now = wh_now_us() / 1000;
    t->bucket += (double)(now - t->bucket_ms) * (double)lim.fuel_per_second / 1000.0;
    if (t->bucket > (double)lim.fuel_per_second) t->bucket = (double)lim.fuel_per_second;
    t->bucket_ms = now;
    bool empty = t->bucket <= 0;
    pthread_mutex_unlock(&t->bucket_lock);
    if (empty) {
      atomic_fetch_sub(&t->running, 1);
      json_decref(jargs);
      finish_error(c, 429, "fuel_rate_limit", "this tenant's fuel_per_second is spent; retry");
      goto out;
    }
  }
  job = new_job(c, WH_JOB_INVOKE);
  if (!job || !(job->export_name = strdup(json_string_value(jexport)))) {
    atomic_fetch_sub(&t->running, 1);
    json_decref(jargs);
    wh_job_free(job);
    job = NULL;
    finish_error(c, 500, "internal", "out of memory");
    goto out;
  }
  job->dep = dep;
  dep = NULL;
  job->args = jargs;
  job->fuel = lim.fuel_per_invocation;
  if (jfuel && (uint64_t)json_integer_value(jfuel) < job->fuel)
    job->fuel = (uint64_t)json_integer_value(jfuel);
  job->wall_ms = lim.max_wall_time_ms;
  job->memory_limit = lim.max_memory_size;
  atomic_fetch_add(&t->invocations, 1);
  submit(c, job);
out:
  if (dep) wh_dep_unref(dep);
  if (body) json_decref(body);
}

/* ---- finished jobs ----------------------------------------------------------
 *
 * A worker pushes its finished job onto the done list of the I/O thread
 * that received the request (a lock-free stack) and activates that
 * thread's done event only when the list was empty: a thread that is
 * already due to drain the list needs no second wake-up, so under load
 * one wake-up answers many jobs.  The drain takes the whole list at once
 * and answers in completion order. */

static void job_done(wh_job_t *job);

void wh_http_job_complete(wh_job_t *job) {
  wh_io_t *io = job->io;
  wh_job_t *head = atomic_load_explicit(&io->done_head, memory_order_relaxed);
  do job->next = head;
  while (!atomic_compare_exchange_weak_explicit(&io->done_head, &head, job,
                                                memory_order_release, memory_order_relaxed));
  if (!head) event_active(io->done_ev, EV_READ, 0);
}

static void wake_workers(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  wh_io_t *io = arg;
  io->wake_pending = false;
  wh_exec_wake(io->d);
}

static void drain_done(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  wh_io_t *io = arg;
  wh_job_t *list = atomic_exchange_explicit(&io->done_head, NULL, memory_order_acquire);
  wh_job_t *fifo = NULL;
  while (list) {   /* newest first -> oldest first */
    wh_job_t *next = list->next;
    list->next = fifo;
    fifo = list;
    list = next;
  }
  while (fifo) {
    wh_job_t *next = fifo->next;
    job_done(fifo);
    fifo = next;
  }
}

static void job_done(wh_job_t *job) {
  wh_daemon_t *d = job->d;
  int route = job->kind == WH_JOB_INVOKE ? R_INVOKE : R_COMPONENT;
  json_t *reply = job->reply;
  job->reply = NULL;
  if (!reply) reply = error_body("internal", "the job produced no reply");
  reply_json(job->req, job->status ? job->status : 500, reply, job->request_id);
  count(d, route, job->status, job->start_us);
  log_request(job->req, job->tenant->name, job->status, job->start_us, job->request_id);
  if (job->kind == WH_JOB_INVOKE) atomic_fetch_sub(&job->tenant->running, 1);
  atomic_fetch_sub(&d->in_flight, 1);
  wh_job_free(job);
}

/* ---- metrics --------------------------------------------------------------- */

static void do_metrics(reqctx_t *c) {
  wh_daemon_t *d = c->d;
  struct evbuffer *b = evbuffer_new();
  static const char *const cls[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
  evbuffer_add_printf(b, "# HELP wharf_http_requests_total HTTP requests by route and status class.\n"
                         "# TYPE wharf_http_requests_total counter\n");
  for (int r = 0; r < 6; r++)
    for (int s = 1; s <= 5; s++) {
      uint64_t v = atomic_load(&d->http_requests[r][s]);
      if (v) evbuffer_add_printf(b, "wharf_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
                                 route_names[r], cls[s], (unsigned long long)v);
    }
  evbuffer_add_printf(b, "# HELP wharf_http_request_duration_seconds Request latency.\n"
                         "# TYPE wharf_http_request_duration_seconds histogram\n");
  for (int i = 0; i < 12; i++)
    evbuffer_add_printf(b, "wharf_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                        latency_bounds[i], (unsigned long long)atomic_load(&d->latency_bucket[i]));
  evbuffer_add_printf(b, "wharf_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                         "wharf_http_request_duration_seconds_sum %.6f\n"
                         "wharf_http_request_duration_seconds_count %llu\n",
                      (unsigned long long)atomic_load(&d->latency_count),
                      atomic_load(&d->latency_sum_us) / 1e6,
                      (unsigned long long)atomic_load(&d->latency_count));
  evbuffer_add_printf(b, "# TYPE wharf_invocations_total counter\n# TYPE wharf_fuel_consumed_total counter\n"
                         "# TYPE wharf_tenant_traps_total counter\n");
  pthread_rwlock_rdlock(&d->cfg_lock);
  for (uint32_t i = 0; i < d->ntenants; i++) {
    wh_tenant_t *t = &d->tenants[i];
    evbuffer_add_printf(b, "wharf_invocations_total{tenant=\"%s\"} %llu\n"
                           "wharf_fuel_consumed_total{tenant=\"%s\"} %llu\n"
                           "wharf_tenant_traps_total{tenant=\"%s\"} %llu\n",
                        t->name, (unsigned long long)atomic_load(&t->invocations), t->name,
                        (unsigned long long)atomic_load(&t->fuel), t->name,
                        (unsigned long long)atomic_load(&t->traps));
  }
  pthread_rwlock_unlock(&d->cfg_lock);
  evbuffer_add_printf(b, "# TYPE wharf_traps_total counter\n");
  for (int k = 1; k < WH__TRAP_COUNT; k++) {
    uint64_t v = atomic_load(&d->traps_by_kind[k]);
    if (v) evbuffer_add_printf(b, "wharf_traps_total{kind=\"%s\"} %llu\n", wh_trap_api_code(k),
                               (unsigned long long)v);
  }
  wh_pool_stats_t ps;
  wh_pool_stats(d->pool, &ps);
  pthread_mutex_lock(&d->q_lock);
  uint32_t qlen = d->q_len;
  pthread_mutex_unlock(&d->q_lock);
  evbuffer_add_printf(b,
      "# TYPE wharf_pool_memories gauge\n"
      "wharf_pool_memories{state=\"live\"} %u\nwharf_pool_memories{state=\"warm\"} %u\n"
      "wharf_pool_memories{state=\"clean\"} %u\n"
      "# TYPE wharf_pool_instances gauge\nwharf_pool_instances{state=\"live\"} %u\n"
      "# TYPE wharf_pool_memory_committed_bytes gauge\nwharf_pool_memory_committed_bytes %llu\n"
      "# TYPE wharf_pool_acquisitions_total counter\nwharf_pool_acquisitions_total %llu\n"
      "# TYPE wharf_pool_affinity_hits_total counter\nwharf_pool_affinity_hits_total %llu\n"
      "# TYPE wharf_pool_failures_total counter\nwharf_pool_failures_total %llu\n"
      "# TYPE wharf_pool_images gauge\nwharf_pool_images %llu\n"
      "# TYPE wharf_queue_depth gauge\nwharf_queue_depth %u\n"
      "# TYPE wharf_in_flight gauge\nwharf_in_flight %u\n"
      "# TYPE wharf_deploys_total counter\nwharf_deploys_total %llu\n"
      "# TYPE wharf_compile_seconds_total counter\nwharf_compile_seconds_total %.6f\n"
      "# TYPE wharf_http_request_timeouts_total counter\nwharf_http_request_timeouts_total %llu\n",
      ps.memories_live, ps.memories_warm, ps.memories_clean, ps.instances_live,
      (unsigned long long)ps.memory_committed, (unsigned long long)ps.acquisitions,
      (unsigned long long)ps.affinity_hits, (unsigned long long)ps.failures,
      (unsigned long long)ps.images, qlen, atomic_load(&d->in_flight),
      (unsigned long long)atomic_load(&d->deploys), atomic_load(&d->compile_us_total) / 1e6,
      (unsigned long long)atomic_load(&d->request_timeouts));
  wh_native_stats_t ns;
  wh_native_stats(&ns);
  uint32_t dn, di;
  wh_deps_count_tiers(d, &dn, &di);
  evbuffer_add_printf(b,
      "# TYPE wharf_deployments gauge\n"
      "wharf_deployments{tier=\"native\"} %u\nwharf_deployments{tier=\"interpreter\"} %u\n"
      "# TYPE wharf_native_compiles_total counter\n"
      "wharf_native_compiles_total{result=\"compiled\"} %llu\n"
      "wharf_native_compiles_total{result=\"refused\"} %llu\n"
      "wharf_native_compiles_total{result=\"failed\"} %llu\n"
      "# TYPE wharf_native_compile_seconds_total counter\nwharf_native_compile_seconds_total %.6f\n"
      "# TYPE wharf_native_tierups_pending gauge\nwharf_native_tierups_pending %llu\n",
      dn, di, (unsigned long long)ns.compiled, (unsigned long long)ns.refused,
      (unsigned long long)ns.failed, ns.compile_ns / 1e9, (unsigned long long)ns.pending);
  wh_cache_stats_t cs;
  if (d->cache && wh_cache_stats(d->cache, &cs, NULL, NULL) == 0)
    evbuffer_add_printf(b,
        "# TYPE wharf_cache_hits_total counter\nwharf_cache_hits_total %llu\n"
        "# TYPE wharf_cache_misses_total counter\nwharf_cache_misses_total %llu\n"
        "# TYPE wharf_cache_evictions_total counter\nwharf_cache_evictions_total %llu\n"
        "# TYPE wharf_cache_corrupt_drops_total counter\nwharf_cache_corrupt_drops_total %llu\n"
        "# TYPE wharf_cache_bytes gauge\nwharf_cache_bytes %llu\n",
        (unsigned long long)cs.hits, (unsigned long long)cs.misses,
        (unsigned long long)cs.evictions, (unsigned long long)cs.corrupt_drops,
        (unsigned long long)cs.bytes);
  evhttp_add_header(evhttp_request_get_output_headers(c->req), "Content-Type",
                    "text/plain; version=0.0.4");
  evhttp_send_reply(c->req, 200, "OK", b);
  evbuffer_free(b);
  count(d, c->route, 200, c->start_us);
}

/* ---- routing ------------------------------------------------------------------ */

/* A request id: 16 hex digits, unique per I/O thread (a bijective mix of
 * the thread's counter under its random key) and unpredictable enough to
 * correlate logs; no system call per request, as RAND_bytes' fork check
 * made one. */
static void request_id(wh_io_t *io, char out[17]) {
  uint64_t z = io->rid_key ^ io->rid_seq++;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  static const char hex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; i--, z >>= 4) out[i] = hex[z & 15];
  out[16] = '\0';
}

/* Replies exactly once (directly or through a job). */
static void on_request(struct evhttp_request *req, void *arg) {
  wh_io_t *io = arg;
  reqctx_t c = {.d = io->d, .io = io, .req = req, .start_us = wh_now_us(), .route = R_OTHER};
  clock_stop(io, req);
  request_id(io, c.rid);
  enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
  const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
  if (!path) path = "";

  if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
    c.route = R_HEALTH;
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) { finish_error(&c, 405, "method_not_allowed", "use GET"); return; }
    bool ready = path[1] == 'h' || atomic_load(&c.d->ready);
    if (c.d->draining && path[1] == 'r') ready = false;
    { finish(&c, ready ? 200 : 503, json_pack("{s:s}", "status", ready ? "ok" : "starting")); return; }
  }
  if (strcmp(path, "/metrics") == 0) {
    c.route = R_METRICS;
    if (cmd != EVHTTP_REQ_GET) { finish_error(&c, 405, "method_not_allowed", "use GET"); return; }
    { do_metrics(&c); return; }
  }
  static const char prefix[] = "/v1/components";
  if (strncmp(path, prefix, sizeof prefix - 1) != 0 ||
      (path[sizeof prefix - 1] != '\0' && path[sizeof prefix - 1] != '/'))
    { finish_error(&c, 404, "not_found", "no such endpoint"); return; }
  const char *rest = path + sizeof prefix - 1;
  if (*rest == '\0' || strcmp(rest, "/") == 0) {
    c.route = R_LIST;
    if (!authenticate(&c)) return;
    if (cmd != EVHTTP_REQ_GET) { finish_error(&c, 405, "method_not_allowed", "use GET"); return; }
    { do_list(&c); return; }
  }
  char name[WH_REG_NAME_MAX + 2];
  const char *seg = rest + 1, *slash = strchr(seg, '/');
  size_t n = slash ? (size_t)(slash - seg) : strlen(seg);
  c.route = slash ? R_INVOKE : R_COMPONENT;
  if (!authenticate(&c)) return;
  if (n > WH_REG_NAME_MAX || n == 0) {
    { finish_error(&c, 400, "bad_name", "component names are 1-128 of A-Z a-z 0-9 . _ -"); return; }
  }
  memcpy(name, seg, n);
  name[n] = '\0';
  if (!wh_reg_valid_name(name))
    { finish_error(&c, 400, "bad_name", "component names are 1-128 of A-Z a-z 0-9 . _ -, "
                                             "not starting with . or -"); return; }
  if (slash) {
    if (strcmp(slash, "/invoke") != 0) { finish_error(&c, 404, "not_found", "no such endpoint"); return; }
    if (cmd != EVHTTP_REQ_POST) { finish_error(&c, 405, "method_not_allowed", "use POST"); return; }
    if (c.d->draining) { finish_error(&c, 503, "draining", "the server is shutting down"); return; }
    { do_invoke(&c, name); return; }
  }
  switch (cmd) {
  case EVHTTP_REQ_POST:
  case EVHTTP_REQ_PUT:
    if (c.d->draining) { finish_error(&c, 503, "draining", "the server is shutting down"); return; }
    { do_deploy(&c, name); return; }
  case EVHTTP_REQ_GET: { do_get(&c, name); return; }
  case EVHTTP_REQ_DELETE: { do_delete(&c, name); return; }
  default: { finish_error(&c, 405, "method_not_allowed", "use POST, PUT, GET or DELETE"); return; }
  }
}

/* ---- listeners ------------------------------------------------------------ */

static int setup_tls(wh_daemon_t *d, wh_diag_t *diag) {
  tls_ctx = SSL_CTX_new(TLS_server_method());
  if (!tls_ctx) return wh_diag_set(diag, WH_ENOMEM, -1, "cannot create a TLS context");
  SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(tls_ctx, d->cfg.tls_cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(tls_ctx, d->cfg.tls_key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(tls_ctx) != 1) {
    char err[256];
    ERR_error_string_n(ERR_get_error(), err, sizeof err);
    return wh_diag_set(diag, WH_EIO, -1, "TLS certificate/key (%s, %s): %s", d->cfg.tls_cert,
                       d->cfg.tls_key, err);
  }
  return 0;
}

/* A listening socket for "host:port" ("[v6]:port" too). */
static int listen_on(const char *a, wh_diag_t *diag) {
  char host[256];
  const char *colon = strrchr(a, ':');
  size_t hl = (size_t)(colon - a);
  if (hl >= sizeof host) hl = sizeof host - 1;
  memcpy(host, a, hl);
  host[hl] = '\0';
  if (host[0] == '[' && hl > 1 && host[hl - 1] == ']') {   /* [v6addr] */
    memmove(host, host + 1, hl - 2);
    host[hl - 2] = '\0';
  }
  struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                  .ai_protocol = IPPROTO_TCP,
                                  .ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG};
  struct evutil_addrinfo *ai = NULL;
  int gai = evutil_getaddrinfo(host, colon + 1, &hints, &ai);
  if (gai != 0)
    return wh_diag_set(diag, WH_EIO, -1, "cannot listen on %s: %s", a, evutil_gai_strerror(gai));
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  int one = 1, err = 0;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0)
    err = errno;
  evutil_freeaddrinfo(ai);
  if (err) {
    if (fd >= 0) close(fd);
    return wh_diag_set(diag, WH_EIO, -1, "cannot listen on %s: %s", a, strerror(err));
  }
  return fd;
}

struct event_base *wh_http_base_new(void) {
  /* epoll's changelist folds the interest changes evhttp makes around
   * each request (stop reading, write the reply, read again) into one
   * epoll_ctl per connection and loop iteration */
  struct event_config *cfg = event_config_new();
  if (!cfg) return NULL;
  event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  struct event_base *b = event_base_new_with_config(cfg);
  event_config_free(cfg);
  return b;
}

static int io_setup(wh_io_t *io, wh_daemon_t *d, uint32_t index, wh_diag_t *diag) {
  io->d = d;
  io->index = index;
  io->base = index == 0 ? d->base : wh_http_base_new();
  if (RAND_bytes((unsigned char *)&io->rid_key, sizeof io->rid_key) != 1)
    return wh_diag_set(diag, WH_EIO, -1, "no randomness for request ids");
  io->http = io->base ? evhttp_new(io->base) : NULL;
  if (!io->http) return wh_diag_set(diag, WH_ENOMEM, -1, "cannot create the HTTP server");
  evhttp_set_gencb(io->http, on_request, io);
  evhttp_set_max_body_size(io->http, (ev_ssize_t)d->cfg.max_body_size);
  struct timeval tv = {.tv_sec = (time_t)(d->cfg.request_timeout_ms / 1000),
                       .tv_usec = (suseconds_t)(d->cfg.request_timeout_ms % 1000) * 1000};
  evhttp_set_timeout_tv(io->http, &tv);
  /* every method reaches the router, which answers a JSON 405 */
  evhttp_set_allowed_methods(io->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                           EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                           EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH |
                                           EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
  evhttp_set_max_headers_size(io->http, 64 * 1024);
  evhttp_set_bevcb(io->http, conn_bev, io);
  io->done_ev = event_new(io->base, -1, 0, drain_done, io);
  io->wake_ev = event_new(io->base, -1, 0, wake_workers, io);
  if (!io->done_ev || !io->wake_ev || clock_start_sweep(io) != 0)
    return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  return 0;
}

static void *io_main(void *arg) {
  wh_io_t *io = arg;
  event_base_loop(io->base, EVLOOP_NO_EXIT_ON_EMPTY);
  return NULL;
}

int wh_http_start(wh_daemon_t *d, wh_diag_t *diag) {
  if (d->cfg.tls_cert) {
    int rc = setup_tls(d, diag);
    if (rc) return rc;
  }
  nios = d->cfg.io_threads ? d->cfg.io_threads : 1;
  ios = calloc(nios, sizeof *ios);
  if (!ios) return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  for (uint32_t i = 0; i < nios; i++) {
    int rc = io_setup(&ios[i], d, i, diag);
    if (rc) return rc;
  }
  d->http = ios[0].http;
  /* one listening socket per address; every thread accepts on a dup */
  for (uint32_t a = 0; a < d->cfg.nlisten; a++) {
    int fd = listen_on(d->cfg.listen[a], diag);
    if (fd < 0) return fd;
    for (uint32_t i = 0; i < nios; i++) {
      int tfd = i + 1 == nios ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 0);
      struct evhttp_bound_socket *s =
          tfd < 0 ? NULL : evhttp_accept_socket_with_handle(ios[i].http, tfd);
      if (!s) {
        if (tfd >= 0) close(tfd);
        if (i + 1 < nios) close(fd);
        return wh_diag_set(diag, WH_EIO, -1, "cannot listen on %s: %s", d->cfg.listen[a],
                           strerror(errno));
      }
      ios[i].bound[ios[i].nbound++] = s;
    }
    wh_log(WH_LOG_INFO, "listening on %s%s (%u I/O thread%s)", d->cfg.listen[a],
           d->cfg.tls_cert ? ", TLS" : "", nios, nios == 1 ? "" : "s");
  }
  for (uint32_t i = 1; i < nios; i++) {
    if (pthread_create(&ios[i].thread, NULL, io_main, &ios[i]) != 0)
      return wh_diag_set(diag, WH_ENOMEM, -1, "cannot start I/O thread %u", i);
    ios[i].running = true;
  }
  return 0;
}

/* Runs on the I/O thread that owns `arg`'s evhttp. */
static void io_stop_accepting(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  wh_io_t *io = arg;
  for (uint32_t i = 0; i < io->nbound; i++) evhttp_del_accept_socket(io->http, io->bound[i]);
  io->nbound = 0;
}

void wh_http_stop_accepting(wh_daemon_t *d) {
  (void)d;
  static const struct timeval now = {0, 0};
  for (uint32_t i = 0; i < nios; i++) {
    if (i == 0) io_stop_accepting(-1, 0, &ios[0]);
    else event_base_once(ios[i].base, -1, EV_TIMEOUT, io_stop_accepting, &ios[i], &now);
  }
}

void wh_http_fini(wh_daemon_t *d) {
  for (uint32_t i = 1; i < nios; i++)
    if (ios[i].running) {
      event_base_loopbreak(ios[i].base);
      pthread_join(ios[i].thread, NULL);
    }
  for (uint32_t i = 0; i < nios; i++) {
    if (ios[i].http) evhttp_free(ios[i].http);
    if (ios[i].done_ev) event_free(ios[i].done_ev);
    if (ios[i].wake_ev) event_free(ios[i].wake_ev);
    /* jobs finished after the drain gave up: their connections are gone */
    for (wh_job_t *j = atomic_exchange(&ios[i].done_head, NULL), *next; j; j = next) {
      next = j->next;
      wh_job_free(j);
    }
    clock_fini(&ios[i]);
    if (i > 0 && ios[i].base) event_base_free(ios[i].base);
  }
  free(ios);
  ios = NULL;
  nios = 0;
  d->http = NULL;
  if (tls_ctx) SSL_CTX_free(tls_ctx);
  tls_ctx = NULL;
}
