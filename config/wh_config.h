/*
 * wh_config.h - wharfd's configuration: one INI file -> a typed, validated
 * struct.
 *
 * Every key lives in one table in config.c (section, name, type, offset,
 * bounds, default, one line of documentation), like nginx's
 * ngx_command_t; parsing, validation, defaults and docs/CONFIG.md all
 * come from that table, so they cannot drift.  Sizes take B/KiB/MiB/GiB
 * (a plain number is bytes); durations need ms or s.  An unknown key, an
 * unknown section or a bad value is an error naming the file, the line
 * and the reason.
 */
#ifndef WH_CONFIG_H
#define WH_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "wh_error.h"
#include "wh_pool.h"

#define WH_CFG_MAX_LISTEN 8
#define WH_CFG_MAX_TENANTS 1024
#define WH_CFG_NAME_MAX 64

/* Per-tenant limits: the [limits] section gives the defaults, each
 * [tenant.NAME] section may override any of them. */
typedef struct wh_cfg_limits {
  uint64_t fuel_per_invocation;   /* units; 0 = unmetered */
  uint64_t fuel_per_second;       /* units/s over all the tenant's calls; 0 = no rate */
  uint64_t max_wall_time_ms;      /* deadline of one invocation */
  uint64_t max_memory_size;       /* bytes of linear memory per instance */
  uint32_t max_concurrency;       /* invocations running at once */
  uint32_t max_components;        /* deployed components */
  uint64_t max_component_size;    /* bytes of one deployed binary */
} wh_cfg_limits_t;

typedef struct wh_cfg_tenant {
  char name[WH_CFG_NAME_MAX + 1];
  uint8_t key_sha256[32];         /* SHA-256 of the tenant's API key */
  bool has_key;
  wh_cfg_limits_t limits;         /* defaults merged with overrides */
  uint32_t overridden;            /* bit per limits key set in the section */
} wh_cfg_tenant_t;

typedef struct wh_config {
  /* [server] */
  char *listen[WH_CFG_MAX_LISTEN];/* "host:port", "[v6]:port" */
  uint32_t nlisten;
  char *tls_cert, *tls_key;       /* PEM files; both or neither */
  uint32_t io_threads;
  uint32_t workers;               /* 0 = number of CPUs */
  uint32_t queue_depth;
  uint64_t max_body_size;
  uint64_t request_timeout_ms;    /* reading a request's headers and body */
  /* [storage] */
  char *data_dir;
  uint64_t cache_max_size;
  /* [pool] */
  wh_pool_config_t pool;
  uint64_t max_wasm_stack;
  /* [engine] */
  bool simd;                      /* accept SIMD (v128) modules */
  wh_tier_t tier;                 /* interp, native or auto */
  /* [limits] */
  wh_cfg_limits_t limits;
  /* [tenant.NAME] */
  wh_cfg_tenant_t *tenants;
  uint32_t ntenants;
} wh_config_t;

/* Fills `c` with every key's default (owned strings: wh_cfg_fini). */
int wh_cfg_defaults(wh_config_t *c);
/* Parses and validates `path` into `c` (defaults for keys not set).  On
 * error returns WH_EINVAL (or WH_EIO/WH_ENOMEM) with diag->line set and
 * diag->msg "FILE:LINE: reason"; `c` is then left empty. */
int wh_cfg_load_file(const char *path, wh_config_t *c, wh_diag_t *diag);
/* The same from text; `name` stands for the file in messages. */
int wh_cfg_load_string(const char *text, const char *name, wh_config_t *c,
                       wh_diag_t *diag);
/* Frees what `c` owns (NULL-safe fields); `c` itself is the caller's. */
void wh_cfg_fini(wh_config_t *c);

/* Parses "64 MiB", "1GiB", "4096" into bytes; WH_EINVAL if malformed. */
int wh_cfg_parse_size(const char *s, uint64_t *out);
/* Parses "250ms", "30 s" into milliseconds; a unit is required. */
int wh_cfg_parse_duration(const char *s, uint64_t *out_ms);

/* Writes the key reference (markdown tables, one per section) that
 * docs/CONFIG.md embeds. */
void wh_cfg_write_reference(FILE *out);

#endif /* WH_CONFIG_H */
