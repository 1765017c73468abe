/*
 * wharfd.c - the daemon: start-up, the embedded development config,
 * signals (SIGTERM/SIGINT drain, SIGHUP reload), sd_notify, shutdown.
 *
 *   wharfd -c FILE [--listen ADDR]     run with a config file
 *   wharfd --check-config -c FILE      validate it and exit
 *   wharfd --dev [--listen ADDR]       run with the embedded development
 *                                      config: data under ./var, loopback,
 *                                      tenant "dev" whose key it prints
 *
 * Start-up order: config -> engine -> pool -> registry (reconciled) ->
 * every deployment recompiled -> executors -> listeners -> READY=1.
 */
#include <errno.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "daemon.h"

#define DRAIN_TIMEOUT_MS 10000

static void usage(FILE *out) {
  fprintf(out,
          "usage: wharfd -c FILE [--listen ADDR]\n"
          "       wharfd --check-config -c FILE\n"
          "       wharfd --dev [--listen ADDR]\n"
          "       wharfd --version\n");
}

/* ---- the development config ------------------------------------------------ */

/* The dev tenant's key: var/dev.key, made once with 128 random bits. */
static int dev_key(const char *dir, char key[65]) {
  char path[4096];
  snprintf(path, sizeof path, "%s/dev.key", dir);
  FILE *f = fopen(path, "r");
  if (f) {
    int ok = fscanf(f, "%64s", key) == 1 && strlen(key) >= 16;
    fclose(f);
    if (ok) return 0;
  }
  unsigned char rnd[16];
  if (RAND_bytes(rnd, sizeof rnd) != 1) return WH_EIO;
  strcpy(key, "wh_dev_");
  for (int i = 0; i < 16; i++) snprintf(key + 7 + 2 * i, 3, "%02x", rnd[i]);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return WH_EIO;
  bool ok = write(fd, key, strlen(key)) == (ssize_t)strlen(key) && write(fd, "\n", 1) == 1;
  close(fd);
  return ok ? 0 : WH_EIO;
}

static int dev_config(wh_config_t *cfg, char key[65], wh_diag_t *diag) {
  const char *dir = "var";
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return wh_diag_set(diag, WH_EIO, -1, "cannot create %s: %s", dir, strerror(errno));
  if (dev_key(dir, key) != 0)
    return wh_diag_set(diag, WH_EIO, -1, "cannot create %s/dev.key", dir);
  unsigned char md[32];
  unsigned len = 0;
  EVP_Digest(key, strlen(key), md, &len, EVP_sha256(), NULL);
  char hex[65];
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  char text[1024];
  snprintf(text, sizeof text,
           "[server]\nlisten = 127.0.0.1:8080\nworkers = 2\n"
           "[storage]\ndata_dir = %s\ncache_max_size = 256 MiB\n"
           "[pool]\ntotal_instances = 64\ntotal_memories = 64\ntotal_tables = 64\n"
           "max_memory_size = 256 MiB\nmemory_guard_size = 64 KiB\n"
           "[limits]\nmax_wall_time = 5s\n"
           "[tenant.dev]\nkey_sha256 = %s\n",
           dir, hex);
  return wh_cfg_load_string(text, "(embedded dev config)", cfg, diag);
}

/* ---- tenants ----------------------------------------------------------------- */

/* Brings d->tenants in line with d->cfg.tenants: known names keep their
 * counters, new ones are added, vanished ones stop authenticating.  The
 * array never moves (jobs hold pointers into it).  Caller holds cfg_lock
 * for writing (or is alone at start-up). */
static void apply_tenants(wh_daemon_t *d) {
  for (uint32_t i = 0; i < d->ntenants; i++) d->tenants[i].present = false;
  for (uint32_t i = 0; i < d->cfg.ntenants; i++) {
    const wh_cfg_tenant_t *ct = &d->cfg.tenants[i];
    wh_tenant_t *t = NULL;
    for (uint32_t k = 0; k < d->ntenants && !t; k++)
      if (strcmp(d->tenants[k].name, ct->name) == 0) t = &d->tenants[k];
    if (!t) {
      if (d->ntenants == WH_CFG_MAX_TENANTS) break;
      t = &d->tenants[d->ntenants++];
      memset(t, 0, sizeof *t);
      snprintf(t->name, sizeof t->name, "%s", ct->name);
      pthread_mutex_init(&t->bucket_lock, NULL);
      t->bucket_ms = wh_now_us() / 1000;
      t->bucket = (double)ct->limits.fuel_per_second;
    }
    t->cfg = *ct;
    t->present = true;
  }
}

/* ---- signals ------------------------------------------------------------------ */

static void drain_tick(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  wh_daemon_t *d = arg;
  static uint64_t started;
  if (!started) started = wh_now_us();
  uint32_t left = atomic_load(&d->in_flight) + wh_http_replies_pending();
  if (left == 0 || wh_now_us() - started > DRAIN_TIMEOUT_MS * 1000ull) {
    if (left) wh_log(WH_LOG_WARN, "drain: giving up on %u request(s) after %d ms", left, DRAIN_TIMEOUT_MS);
    event_base_loopexit(d->base, NULL);
    return;
  }
  struct timeval tv = {0, 50000};
  evtimer_add(d->drain_timer, &tv);
}

static void on_term(evutil_socket_t sig, short what, void *arg) {
  (void)what;
  wh_daemon_t *d = arg;
  if (d->draining) return;
  d->draining = true;
  sd_notify(0, "STOPPING=1");
  wh_log(WH_LOG_INFO, "%s: draining %u in-flight request(s)", sig == SIGINT ? "SIGINT" : "SIGTERM",
         atomic_load(&d->in_flight));
  wh_http_stop_accepting(d);
  d->drain_timer = evtimer_new(d->base, drain_tick, d);
  drain_tick(-1, 0, d);
}

static void on_hup(evutil_socket_t sig, short what, void *arg) {
  (void)sig;
  (void)what;
  wh_daemon_t *d = arg;
  if (!d->config_path) {
    wh_log(WH_LOG_INFO, "SIGHUP: the embedded dev config has nothing to reload");
    return;
  }
  sd_notify(0, "RELOADING=1");
  wh_config_t fresh;
  wh_diag_t diag;
  if (wh_cfg_load_file(d->config_path, &fresh, &diag) != 0) {
    wh_log(WH_LOG_ERROR, "SIGHUP: keeping the old config: %s", diag.msg);
    sd_notify(0, "READY=1");
    return;
  }
  pthread_rwlock_wrlock(&d->cfg_lock);
  /* only tenants and limits change on reload; the rest needs a restart */
  wh_cfg_tenant_t *old_tenants = d->cfg.tenants;
  d->cfg.tenants = fresh.tenants;
  d->cfg.ntenants = fresh.ntenants;
  d->cfg.limits = fresh.limits;
  fresh.tenants = old_tenants;
  apply_tenants(d);
  pthread_rwlock_unlock(&d->cfg_lock);
  wh_cfg_fini(&fresh);
  wh_log(WH_LOG_INFO, "SIGHUP: reloaded %s (%u tenants)", d->config_path, d->cfg.ntenants);
  sd_notify(0, "READY=1");
}

static void cache_log(void *user, int code, const char *msg) {
  (void)user;
  wh_log(code == WH_ECORRUPT ? WH_LOG_WARN : WH_LOG_INFO, "cache: %s", msg);
}

/* ---- main ---------------------------------------------------------------------- */

int main(int argc, char **argv) {
  wh_daemon_t *d = calloc(1, sizeof *d);
  const char *config = NULL, *listen_override = NULL;
  bool check = false, dev = false;
  int status = 1;
  wh_diag_t diag;
  char devkey[65] = "";

  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-c") && i + 1 < argc) config = argv[++i];
    else if (!strcmp(argv[i], "--listen") && i + 1 < argc) listen_override = argv[++i];
    else if (!strcmp(argv[i], "--check-config")) check = true;
    else if (!strcmp(argv[i], "--dev")) dev = true;
    else if (!strcmp(argv[i], "--version")) {
      printf("wharfd %s\n", WHARF_VERSION);
      free(d);
      return 0;
    } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      free(d);
      return 0;
    } else {
      usage(stderr);
      free(d);
      return 2;
    }
  }
  if (!d || (!config && !dev) || (config && dev)) {
    usage(stderr);
    free(d);
    return 2;
  }
  const char *lvl = getenv("WHARF_LOG");
  if (lvl && !strcmp(lvl, "debug")) wh_log_set_level(WH_LOG_DEBUG);
  if (lvl && !strcmp(lvl, "warn")) wh_log_set_level(WH_LOG_WARN);

  int rc = dev ? dev_config(&d->cfg, devkey, &diag) : wh_cfg_load_file(config, &d->cfg, &diag);
  if (rc) {
    fprintf(stderr, "wharfd: %s\n", diag.msg);
    free(d);
    return 1;
  }
  /* native code is compiled by a plugin: a missing one stops the start
   * (and --check-config), not the first deploy */
  if ((rc = wh_tier_check(d->cfg.tier, &diag)) != 0) {
    fprintf(stderr, "wharfd: [engine] tier: %s\n", diag.msg);
    wh_cfg_fini(&d->cfg);
    free(d);
    return 1;
  }
  if (check) {
    printf("%s: OK (%u tenants, %u listen addresses)\n", config, d->cfg.ntenants, d->cfg.nlisten);
    wh_cfg_fini(&d->cfg);
    free(d);
    return 0;
  }
  d->config_path = config;
  if (listen_override) {
    for (uint32_t i = 0; i < d->cfg.nlisten; i++) free(d->cfg.listen[i]);
    d->cfg.listen[0] = strdup(listen_override);
    d->cfg.nlisten = 1;
  }
  signal(SIGPIPE, SIG_IGN);
  pthread_rwlock_init(&d->cfg_lock, NULL);
  d->tenants = calloc(WH_CFG_MAX_TENANTS, sizeof *d->tenants);
  if (!d->tenants || wh_deps_init(d)) goto fail;
  apply_tenants(d);

  wh_engine_config_t ec;
  wh_engine_config_default(&ec);
  ec.max_wasm_stack = d->cfg.max_wasm_stack;
  ec.simd = d->cfg.simd;
  ec.tier = d->cfg.tier;
  d->engine = wh_engine_new(&ec);
  if (!d->engine || wh_epoch_start(5) != 0) {
    wh_log(WH_LOG_ERROR, "cannot create the engine");
    goto fail;
  }
  d->pool = wh_pool_new(&d->cfg.pool, &diag);
  if (!d->pool) {
    wh_log(WH_LOG_ERROR, "pool: %s", diag.msg);
    goto fail;
  }
  if (wh_reg_open(d->cfg.data_dir, &d->reg, &diag) != 0) {
    wh_log(WH_LOG_ERROR, "registry: %s", diag.msg);
    goto fail;
  }
  if (diag.msg[0]) wh_log(WH_LOG_WARN, "%s", diag.msg);
  d->cache = wh_cache_open(d->cfg.data_dir, d->cfg.cache_max_size, 0, &diag);
  if (d->cache) wh_cache_set_log(d->cache, cache_log, NULL);
  else wh_log(WH_LOG_WARN, "compilation cache disabled: %s", diag.msg);

  evthread_use_pthreads();
  d->base = wh_http_base_new();
  if (!d->base) goto fail;
  d->nworkers = d->cfg.workers ? d->cfg.workers : (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
  if (d->nworkers == 0) d->nworkers = 1;
  if (wh_exec_start(d, &diag) != 0) {
    wh_log(WH_LOG_ERROR, "executors: %s", diag.msg);
    goto fail;
  }
  if (wh_http_start(d, &diag) != 0) {
    wh_log(WH_LOG_ERROR, "%s", diag.msg);
    goto fail;
  }
  d->sig_term = evsignal_new(d->base, SIGTERM, on_term, d);
  d->sig_int = evsignal_new(d->base, SIGINT, on_term, d);
  d->sig_hup = evsignal_new(d->base, SIGHUP, on_hup, d);
  evsignal_add(d->sig_term, NULL);
  evsignal_add(d->sig_int, NULL);
  evsignal_add(d->sig_hup, NULL);

  uint64_t t0 = wh_now_us();
  uint32_t loaded = 0, failed = 0;
  wh_deps_load_all(d, &loaded, &failed);
  wh_deps_pin_all(d);
  atomic_store(&d->ready, true);
  wh_log(WH_LOG_INFO, "wharfd %s ready: %u deployment(s) loaded in %.1f ms%s, %u worker(s), %u tenant(s)",
         WHARF_VERSION, loaded, (wh_now_us() - t0) / 1000.0, failed ? " (some failed)" : "",
         d->nworkers, d->cfg.ntenants);
  if (dev) {
    printf("wharfd (dev): listening on http://%s  data in ./var\n"
           "  tenant: dev   key: %s\n"
           "  deploy: curl -H 'Authorization: Bearer %s' --data-binary @build/examples/calc.wasm "
           "http://%s/v1/components/calc\n"
           "  invoke: curl -H 'Authorization: Bearer %s' -d '{\"export\":\"add\",\"args\":[1,2]}' "
           "http://%s/v1/components/calc/invoke\n",
           d->cfg.listen[0], devkey, devkey, d->cfg.listen[0], devkey, d->cfg.listen[0]);
    fflush(stdout);
  }
  sd_notify(0, "READY=1");
  event_base_dispatch(d->base);
  wh_log(WH_LOG_INFO, "shutting down");
  status = 0;

fail:
  if (d->workers) wh_exec_stop(d);
  wh_http_fini(d);
  if (d->sig_term) event_free(d->sig_term);
  if (d->sig_int) event_free(d->sig_int);
  if (d->sig_hup) event_free(d->sig_hup);
  if (d->drain_timer) event_free(d->drain_timer);
  if (d->base) event_base_free(d->base);
  if (d->deps) wh_deps_fini(d);
  wh_reg_close(d->reg);
  wh_cache_close(d->cache);
  wh_pool_free(d->pool);
  wh_epoch_stop();
  wh_engine_free(d->engine);
  if (d->tenants)
    for (uint32_t i = 0; i < d->ntenants; i++) pthread_mutex_destroy(&d->tenants[i].bucket_lock);
  free(d->tenants);
  wh_cfg_fini(&d->cfg);
  free(d);
  return status;
}
