/*
 * config.c - the key table, the INI handler (libinih) and validation.
 *
 * One row per key: where it lives, how it parses, its bounds, its default
 * (as the text an operator would write, parsed by the same code) and its
 * documentation.  wh_cfg_write_reference prints the same rows as the
 * tables of docs/CONFIG.md, and a test checks the two agree.
 *
 * [tenant.NAME] sections take key_sha256 and any key of [limits]; a
 * tenant's limits are [limits] with its own keys laid over, whatever the
 * order of the sections in the file.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "wh_config.h"

typedef enum key_type {
  T_STR, T_PATH, T_U32, T_U64, T_SIZE, T_DUR, T_LISTEN, T_KEY, T_BOOL, T_TIER
} key_type_t;

static const char *const type_names[] = {
    [T_STR] = "string", [T_PATH] = "path", [T_U32] = "integer",
    [T_U64] = "integer", [T_SIZE] = "size", [T_DUR] = "duration",
    [T_LISTEN] = "address list", [T_KEY] = "hex SHA-256", [T_BOOL] = "boolean",
    [T_TIER] = "interp, native or auto"};

enum { IN_CONFIG, IN_LIMITS, IN_TENANT };   /* what `off` is relative to */

typedef struct key {
  const char *section, *name;
  key_type_t type;
  uint8_t base;
  size_t off;
  uint64_t min, max;
  const char *def;        /* default, as written in a file; NULL: unset */
  const char *doc;
} cfg_key_t;

#define CFG(field) IN_CONFIG, offsetof(wh_config_t, field)
#define LIM(field) IN_LIMITS, offsetof(wh_cfg_limits_t, field)
#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define TiB (1024ull * GiB)
#define DAY_MS (86400ull * 1000)

static const cfg_key_t keys[] = {
  {"server", "listen", T_LISTEN, CFG(listen), 1, WH_CFG_MAX_LISTEN, "127.0.0.1:8080",
   "addresses to listen on, comma-separated: `host:port` or `[v6addr]:port`"},
  {"server", "tls_cert", T_PATH, CFG(tls_cert), 0, 0, NULL,
   "PEM certificate chain; with `tls_key`, every listener speaks HTTPS (TLS 1.2+)"},
  {"server", "tls_key", T_PATH, CFG(tls_key), 0, 0, NULL, "PEM private key for `tls_cert`"},
  {"server", "io_threads", T_U32, CFG(io_threads), 1, 64, "1",
   "threads running the HTTP event loop (never guest code)"},
  {"server", "workers", T_U32, CFG(workers), 0, 1024, "0",
   "executor threads running invocations; 0 = one per CPU"},
  {"server", "queue_depth", T_U32, CFG(queue_depth), 1, 1000000, "1024",
   "invocations waiting for an executor; beyond it requests get 503"},
  {"server", "max_body_size", T_SIZE, CFG(max_body_size), 1024, 4 * GiB, "64 MiB",
   "largest request body; larger ones get 413"},
  {"server", "request_timeout", T_DUR, CFG(request_timeout_ms), 100, DAY_MS, "30s",
   "how long receiving a whole request (headers and body) may take; also how long a "
   "connection may sit silent"},

  {"storage", "data_dir", T_PATH, CFG(data_dir), 0, 0, "/var/lib/wharf",
   "registry database, component blobs and the compilation cache"},
  {"storage", "cache_max_size", T_SIZE, CFG(cache_max_size), 1 * MiB, 64 * TiB, "1 GiB",
   "compiled artifacts kept on disk; least recently used go first"},

  {"pool", "total_instances", T_U32, CFG(pool.total_instances), 1, 1000000, "1000",
   "instances alive at once (instance-state slots)"},
  {"pool", "total_memories", T_U32, CFG(pool.total_memories), 0, 1000000, "1000",
   "linear-memory slots"},
  {"pool", "total_tables", T_U32, CFG(pool.total_tables), 0, 1000000, "1000", "table slots"},
  {"pool", "max_memory_size", T_SIZE, CFG(pool.max_memory_size), 64 * KiB, 4 * GiB, "4 GiB",
   "largest linear memory a slot can hold (a multiple of 64 KiB)"},
  {"pool", "memory_guard_size", T_SIZE, CFG(pool.memory_guard_size), 0, 8 * GiB, "2 GiB",
   "inaccessible bytes after each memory slot (a multiple of 4 KiB)"},
  {"pool", "table_elements", T_U32, CFG(pool.table_elements), 1, 10000000, "20000",
   "entries a table slot can hold"},
  {"pool", "max_instance_size", T_SIZE, CFG(pool.max_instance_size), 4 * KiB, 1 * GiB, "1 MiB",
   "bytes of per-instance state (functions, globals, segments) a slot holds"},
  {"pool", "keep_resident", T_SIZE, CFG(pool.keep_resident), 0, 4 * GiB, "0",
   "bytes at the start of a released memory zeroed in place (kept resident) instead of "
   "given back to the kernel"},
  {"pool", "max_unused_warm_slots", T_U32, CFG(pool.max_unused_warm_slots), 0, 1000000, "100",
   "released memory slots that keep their module's image mapped for its next instance"},
  {"pool", "max_wasm_stack", T_SIZE, CFG(max_wasm_stack), 64 * KiB, 1 * GiB, "1 MiB",
   "value stack of one invocation; deeper recursion traps \"call stack exhausted\""},

  {"engine", "simd", T_BOOL, CFG(simd), 0, 1, "false",
   "accept modules that use SIMD (`v128`, the 0xfd instructions); `false` refuses them at "
   "deploy as unsupported"},
  {"engine", "tier", T_TIER, CFG(tier), 0, 2, "interp",
   "how guest code runs: `interp` (the interpreter), `native` (compiled to x86-64 through "
   "LLVM when deployed and cached like the rest; a function with over 1024 branch targets "
   "is compiled without LLVM's optimizations, one over 2 MiB of code, or a module over 16 "
   "MiB, keeps its module interpreted; needs a build with LLVM) or `auto` (the interpreter first; native code compiled in the "
   "background serves later instances)"},

  {"limits", "fuel_per_invocation", T_U64, LIM(fuel_per_invocation), 0, UINT64_MAX / 2,
   "1000000000", "fuel units one invocation may burn (about one per instruction); 0 = unmetered"},
  {"limits", "fuel_per_second", T_U64, LIM(fuel_per_second), 0, UINT64_MAX / 2, "0",
   "fuel a tenant may burn per second over all its invocations (token bucket); 0 = no rate"},
  {"limits", "max_wall_time", T_DUR, LIM(max_wall_time_ms), 1, DAY_MS, "10s",
   "wall-clock deadline of one invocation"},
  {"limits", "max_memory_size", T_SIZE, LIM(max_memory_size), 64 * KiB, 4 * GiB, "256 MiB",
   "linear memory of one invocation, all its memories together; memory.grow fails beyond it"},
  {"limits", "max_concurrency", T_U32, LIM(max_concurrency), 1, 100000, "16",
   "a tenant's invocations running at once; beyond it requests get 429"},
  {"limits", "max_components", T_U32, LIM(max_components), 0, 1000000, "100",
   "components a tenant may have deployed"},
  {"limits", "max_component_size", T_SIZE, LIM(max_component_size), 8, 4 * GiB, "16 MiB",
   "largest component or module a tenant may deploy; larger ones get 413"},

  {"tenant.NAME", "key_sha256", T_KEY, IN_TENANT, offsetof(wh_cfg_tenant_t, key_sha256), 0, 0,
   NULL, "SHA-256 (64 hex digits) of the tenant's API key, sent as `Authorization: Bearer KEY`"},
};

#define NKEYS (sizeof keys / sizeof keys[0])

/* ---- value parsers ---------------------------------------------------- */

static const char *skip_ws(const char *s) {
  while (isspace((unsigned char)*s)) s++;
  return s;
}

static int parse_u64(const char *s, uint64_t *out, const char **rest) {
  s = skip_ws(s);
  if (!isdigit((unsigned char)*s)) return WH_EINVAL;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno) return WH_ERANGE;
  *out = v;
  *rest = skip_ws(end);
  return 0;
}

int wh_cfg_parse_size(const char *s, uint64_t *out) {
  uint64_t v;
  const char *unit;
  int rc = parse_u64(s, &v, &unit);
  if (rc) return rc;
  static const struct { const char *name; uint64_t mul; } units[] = {
      {"", 1}, {"B", 1}, {"KiB", KiB}, {"MiB", MiB}, {"GiB", GiB}, {"TiB", TiB}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    size_t n = strlen(units[i].name);
    if (strncmp(unit, units[i].name, n) == 0 && *skip_ws(unit + n) == '\0') {
      if (v > UINT64_MAX / units[i].mul) return WH_ERANGE;
      *out = v * units[i].mul;
      return 0;
    }
  }
  return WH_EINVAL;
}

int wh_cfg_parse_duration(const char *s, uint64_t *out_ms) {
  uint64_t v;
  const char *unit;
  int rc = parse_u64(s, &v, &unit);
  if (rc) return rc;
  if (strcmp(unit, "ms") == 0) {
    *out_ms = v;
    return 0;
  }
  if (strcmp(unit, "s") == 0) {
    if (v > UINT64_MAX / 1000) return WH_ERANGE;
    *out_ms = v * 1000;
    return 0;
  }
  return WH_EINVAL;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = tolower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* ---- the parse context ------------------------------------------------ */

typedef struct ctx {
  wh_config_t *c;
  wh_cfg_limits_t *overrides;     /* per tenant, merged at the end */
  char reason[200];
  bool failed;
} ctx_t;

/* Records the first failure's reason; returns 0, which tells libinih the
 * line failed. */
static int failf(ctx_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failf(ctx_t *x, const char *fmt, ...) {
  if (!x->failed) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->reason, sizeof x->reason, fmt, ap);
    va_end(ap);
    x->failed = true;
  }
  return 0;
}

static bool valid_tenant_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > WH_CFG_NAME_MAX) return false;
  for (size_t i = 0; i < n; i++)
    if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' || s[i] == '_'))
      return false;
  return true;
}

static wh_cfg_tenant_t *tenant(ctx_t *x, const char *name, uint32_t *index) {
  wh_config_t *c = x->c;
  for (uint32_t i = 0; i < c->ntenants; i++)
    if (strcmp(c->tenants[i].name, name) == 0) {
      *index = i;
      return &c->tenants[i];
    }
  if (c->ntenants == WH_CFG_MAX_TENANTS) return NULL;
  wh_cfg_tenant_t *t = realloc(c->tenants, (c->ntenants + 1) * sizeof *t);
  wh_cfg_limits_t *o = realloc(x->overrides, (c->ntenants + 1) * sizeof *o);
  if (t) c->tenants = t;
  if (o) x->overrides = o;
  if (!t || !o) return NULL;
  memset(&t[c->ntenants], 0, sizeof *t);
  memset(&o[c->ntenants], 0, sizeof *o);
  snprintf(t[c->ntenants].name, sizeof t[c->ntenants].name, "%s", name);
  *index = c->ntenants++;
  return &t[*index];
}

/* Stores `value` into the field at `base + k->off`. */
static int set_value(ctx_t *x, const cfg_key_t *k, uint8_t *base, const char *section,
                     const char *value) {
  uint64_t v = 0;
  int rc = 0;
  void *field = base + k->off;
  switch (k->type) {
  case T_STR:
  case T_PATH: {
    if (!*value) return failf(x, "[%s] %s: empty value", section, k->name);
    char *dup = strdup(value);
    if (!dup) return failf(x, "out of memory");
    free(*(char **)field);
    *(char **)field = dup;
    return 1;
  }
  case T_LISTEN: {
    wh_config_t *c = x->c;
    for (uint32_t i = 0; i < c->nlisten; i++) free(c->listen[i]);
    c->nlisten = 0;
    const char *p = value;
    while (*p) {
      const char *comma = strchr(p, ',');
      size_t n = comma ? (size_t)(comma - p) : strlen(p);
      while (n && isspace((unsigned char)p[n - 1])) n--;
      p = skip_ws(p);
      const char *colon = n ? memrchr(p, ':', n) : NULL;
      if (!colon || colon == p || colon == p + n - 1)
        return failf(x, "[%s] %s: '%s' is not host:port", section, k->name, value);
      unsigned long port = 0;
      for (const char *q = colon + 1; q < p + n; q++) {
        if (!isdigit((unsigned char)*q) || port > 65535)
          return failf(x, "[%s] %s: '%s': the port is not a number", section, k->name, value);
        port = port * 10 + (unsigned long)(*q - '0');
      }
      if (port == 0 || port > 65535)
        return failf(x, "[%s] %s: '%s': the port is outside 1..65535", section, k->name, value);
      if ((p[0] == '[') != (colon[-1] == ']'))
        return failf(x, "[%s] %s: '%s': an IPv6 address goes in [brackets]", section, k->name, value);
      if (c->nlisten == WH_CFG_MAX_LISTEN)
        return failf(x, "[%s] %s: more than 8 addresses", section, k->name);
      c->listen[c->nlisten] = strndup(p, n);
      if (!c->listen[c->nlisten]) return failf(x, "out of memory");
      c->nlisten++;
      p = comma ? skip_ws(comma + 1) : p + strlen(p);
    }
    if (c->nlisten == 0) return failf(x, "[%s] %s: no address given%s", section, k->name, "");
    return 1;
  }
  case T_KEY: {
    uint8_t *out = field;
    if (strlen(value) != 64)
      return failf(x, "[%s] %s: want 64 hex digits (the SHA-256 of the key)", section, k->name);
    for (int i = 0; i < 32; i++) {
      int hi = hexval(value[2 * i]), lo = hexval(value[2 * i + 1]);
      if (hi < 0 || lo < 0)
        return failf(x, "[%s] %s: '%s' is not hexadecimal", section, k->name, value);
      out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 1;
  }
  case T_BOOL:
    if (strcmp(value, "true") == 0) *(bool *)field = true;
    else if (strcmp(value, "false") == 0) *(bool *)field = false;
    else return failf(x, "[%s] %s: '%.40s' is not true or false", section, k->name, value);
    return 1;
  case T_TIER: {
    int t = wh_tier_parse(value);
    if (t < 0) return failf(x, "[%s] %s: '%.40s' is not interp, native or auto", section, k->name, value);
    if (!wh_tier_available((wh_tier_t)t))
      return failf(x, "[%s] %s: %s: this wharf was not built with LLVM", section, k->name, value);
    *(wh_tier_t *)field = (wh_tier_t)t;
    return 1;
  }
  case T_SIZE: rc = wh_cfg_parse_size(value, &v); break;
  case T_DUR: rc = wh_cfg_parse_duration(value, &v); break;
  default: {
    const char *rest;
    rc = parse_u64(value, &v, &rest);
    if (!rc && *rest) rc = WH_EINVAL;
  }
  }
  if (rc) {
    const char *want = k->type == T_SIZE ? "a size such as 64 MiB"
                     : k->type == T_DUR ? "a duration such as 500ms or 30s"
                                        : "a whole number";
    char why[96];
    snprintf(why, sizeof why, "'%.40s' is not %s", value, want);
    return failf(x, "[%s] %s: %s", section, k->name, why);
  }
  if (v < k->min || v > k->max) {
    char why[96];
    snprintf(why, sizeof why, "%llu is outside %llu..%llu", (unsigned long long)v,
             (unsigned long long)k->min, (unsigned long long)k->max);
    return failf(x, "[%s] %s: %s", section, k->name, why);
  }
  if (k->type == T_U32) *(uint32_t *)field = (uint32_t)v;
  else *(uint64_t *)field = v;
  return 1;
}

static const cfg_key_t *find_key(const char *section, const char *name) {
  for (size_t i = 0; i < NKEYS; i++)
    if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0) return &keys[i];
  return NULL;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
  ctx_t *x = user;
  if (x->failed) return 0;
  if (strncmp(section, "tenant.", 7) == 0) {
    const char *tname = section + 7;
    if (!valid_tenant_name(tname))
      return failf(x, "[%s]: tenant names are 1-64 of a-z 0-9 - _", section);
    uint32_t ti;
    wh_cfg_tenant_t *t = tenant(x, tname, &ti);
    if (!t) return failf(x, "[%s]: too many tenants (or out of memory)", section);
    const cfg_key_t *k = find_key("tenant.NAME", name);
    if (k) {
      if (!set_value(x, k, (uint8_t *)t, section, value)) return 0;
      t->has_key = true;
      return 1;
    }
    k = find_key("limits", name);
    if (!k)
      return failf(x, "[%s]: unknown key '%s' (tenants take key_sha256 and [limits] keys)",
                   section, name);
    if (!set_value(x, k, (uint8_t *)&x->overrides[ti], section, value)) return 0;
    t->overridden |= 1u << (k - find_key("limits", "fuel_per_invocation"));
    return 1;
  }
  bool known_section = false;
  for (size_t i = 0; i < NKEYS; i++) known_section |= strcmp(keys[i].section, section) == 0;
  if (!known_section || strcmp(section, "tenant.NAME") == 0)
    return failf(x, "unknown section [%s]", section);
  const cfg_key_t *k = find_key(section, name);
  if (!k) return failf(x, "[%s]: unknown key '%s'", section, name);
  uint8_t *base = k->base == IN_LIMITS ? (uint8_t *)&x->c->limits : (uint8_t *)x->c;
  return set_value(x, k, base, section, value);
}

/* ---- public ------------------------------------------------------------ */

void wh_cfg_fini(wh_config_t *c) {
  for (uint32_t i = 0; i < c->nlisten; i++) free(c->listen[i]);
  free(c->tls_cert);
  free(c->tls_key);
  free(c->data_dir);
  free(c->tenants);
  memset(c, 0, sizeof *c);
}

int wh_cfg_defaults(wh_config_t *c) {
  memset(c, 0, sizeof *c);
  ctx_t x = {.c = c};
  for (size_t i = 0; i < NKEYS; i++) {
    const cfg_key_t *k = &keys[i];
    if (!k->def || k->base == IN_TENANT) continue;
    uint8_t *base = k->base == IN_LIMITS ? (uint8_t *)&c->limits : (uint8_t *)c;
    if (!set_value(&x, k, base, k->section, k->def)) {
      wh_cfg_fini(c);
      return WH_ENOMEM;
    }
  }
  return 0;
}

/* Checks what no single key can: pairs, divisibility, tenants. */
static int validate(ctx_t *x) {
  wh_config_t *c = x->c;
  if (!c->tls_cert != !c->tls_key)
    return failf(x, "[server]: tls_cert and tls_key go together"), WH_EINVAL;
  if (c->pool.max_memory_size % (64 * KiB))
    return failf(x, "[pool] max_memory_size: not a multiple of 64 KiB"), WH_EINVAL;
  if (c->pool.memory_guard_size % (4 * KiB))
    return failf(x, "[pool] memory_guard_size: not a multiple of 4 KiB"), WH_EINVAL;
  for (uint32_t i = 0; i < c->ntenants; i++) {
    wh_cfg_tenant_t *t = &c->tenants[i];
    if (!t->has_key)
      return failf(x, "[tenant.%s]: key_sha256 is required", t->name), WH_EINVAL;
    for (uint32_t j = 0; j < i; j++)
      if (memcmp(c->tenants[j].key_sha256, t->key_sha256, 32) == 0)
        return failf(x, "[tenant.%s]: same key_sha256 as [tenant.%s]", t->name,
                     c->tenants[j].name), WH_EINVAL;
  }
  return 0;
}

/* Lays each tenant's own limits over the [limits] defaults. */
static void merge_limits(ctx_t *x) {
  wh_config_t *c = x->c;
  const cfg_key_t *first = find_key("limits", "fuel_per_invocation");
  for (uint32_t i = 0; i < c->ntenants; i++) {
    wh_cfg_tenant_t *t = &c->tenants[i];
    t->limits = c->limits;
    for (const cfg_key_t *k = first; k < keys + NKEYS && k->base == IN_LIMITS; k++) {
      if (!(t->overridden & (1u << (k - first)))) continue;
      size_t n = k->type == T_U32 ? 4 : 8;
      memcpy((uint8_t *)&t->limits + k->off, (uint8_t *)&x->overrides[i] + k->off, n);
    }
  }
}

#define MAX_LINE 190   /* libinih's line buffer is 200 bytes */

/* libinih reports only keys, so an empty unknown section would pass
 * unseen: check every [section] line of the text (and every line's
 * length).  Returns the offending line, or 0. */
static int unknown_section(const char *text, ctx_t *x) {
  int line = 1;
  for (const char *p = text; *p; line++) {
    const char *eol = strchr(p, '\n');
    const char *end = eol ? eol : p + strlen(p);
    if (end - p > MAX_LINE) {
      /* libinih splits longer lines and miscounts the rest of the file */
      failf(x, "the line is longer than %d characters", MAX_LINE);
      return line;
    }
    const char *q = p;
    while (q < end && (*q == ' ' || *q == '\t' || *q == '\r')) q++;   /* this line only */
    if (q < end && *q == '[') {
      const char *close = memchr(q, ']', (size_t)(end - q));
      if (close) {
        char sec[128];
        size_t n = (size_t)(close - q - 1);
        if (n >= sizeof sec) n = sizeof sec - 1;
        memcpy(sec, q + 1, n);
        sec[n] = '\0';
        bool known = strncmp(sec, "tenant.", 7) == 0;
        for (size_t i = 0; i < NKEYS && !known; i++)
          known = strcmp(keys[i].section, sec) == 0 && strcmp(sec, "tenant.NAME") != 0;
        if (!known) {
          failf(x, "unknown section [%s]", sec);
          return line;
        }
      }
    }
    if (!eol) break;
    p = eol + 1;
  }
  return 0;
}

/* Reads a whole config file (bounded: configs are small). */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char *buf = malloc(1 << 20);
  size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
  fclose(f);
  if (buf) buf[n] = '\0';
  return buf;
}

static int load(const char *text, const char *path, const char *name, wh_config_t *c,
                wh_diag_t *diag) {
  wh_diag_clear(diag);
  char *owned = NULL;
  memset(c, 0, sizeof *c);
  if (!text) {
    owned = slurp(path);
    if (!owned) return wh_diag_set(diag, WH_EIO, -1, "%s: cannot open: %s", name, strerror(errno));
    text = owned;
  }
  int rc = wh_cfg_defaults(c);
  if (rc) {
    free(owned);
    return wh_diag_set(diag, rc, -1, "out of memory");
  }
  ctx_t x = {.c = c};
  int line = unknown_section(text, &x);
  if (!line) line = ini_parse_string(text, handler, &x);
  if (line == -1) {
    rc = wh_diag_set(diag, WH_EIO, -1, "%s: cannot open: %s", name, strerror(errno));
  } else if (line == -2) {
    rc = wh_diag_set(diag, WH_ENOMEM, -1, "%s: out of memory", name);
  } else if (line > 0) {
    rc = wh_diag_set(diag, WH_EINVAL, -1, "%s:%d: %s", name, line,
                     x.failed ? x.reason : "syntax error (want [section] or key = value)");
    if (diag) diag->line = line;
  } else if (validate(&x)) {
    rc = wh_diag_set(diag, WH_EINVAL, -1, "%s: %s", name, x.reason);
  } else {
    merge_limits(&x);
  }
  free(x.overrides);
  free(owned);
  if (rc) wh_cfg_fini(c);
  return rc;
}

int wh_cfg_load_file(const char *path, wh_config_t *c, wh_diag_t *diag) {
  return load(NULL, path, path, c, diag);
}

int wh_cfg_load_string(const char *text, const char *name, wh_config_t *c, wh_diag_t *diag) {
  return load(text, NULL, name, c, diag);
}

void wh_cfg_write_reference(FILE *out) {
  const char *section = NULL;
  for (size_t i = 0; i < NKEYS; i++) {
    const cfg_key_t *k = &keys[i];
    if (!section || strcmp(section, k->section) != 0) {
      section = k->section;
      fprintf(out, "%s### [%s]\n\n| key | type | default | range | meaning |\n|---|---|---|---|---|\n",
              i ? "\n" : "", section);
    }
    char range[64] = "";
    if (k->type == T_U32 || k->type == T_U64 || k->type == T_SIZE || k->type == T_DUR) {
      if (k->max >= UINT64_MAX / 2) snprintf(range, sizeof range, ">= %llu", (unsigned long long)k->min);
      else snprintf(range, sizeof range, "%llu..%llu", (unsigned long long)k->min,
                    (unsigned long long)k->max);
      if (k->type == T_SIZE) strncat(range, " bytes", sizeof range - strlen(range) - 1);
      if (k->type == T_DUR) strncat(range, " ms", sizeof range - strlen(range) - 1);
    }
    fprintf(out, "| `%s` | %s | %s | %s | %s |\n", k->name, type_names[k->type],
            k->def ? k->def : "(none)", range, k->doc);
  }
}
