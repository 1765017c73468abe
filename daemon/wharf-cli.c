/*
 * wharf-cli.c - the `wharf` command: run one WebAssembly module from the
 * command line, the way `wasmtime run` does; precompile modules and look
 * after the compilation cache (docs/CACHE.md).
 *
 *   wharf run [--dir HOST[::GUEST]]... [--env K[=V]]... [--fuel N] [--timeout MS]
 *             [--invoke NAME] [--simd] [--tier T] [--data-dir DIR] FILE.wasm|FILE.cwasm [ARGS...]
 *   wharf compile [--fuel] [--epoch] [--simd] [--tier T] [--data-dir DIR] FILE.wasm [-o OUT]
 *   wharf cache stats|gc|clear [--data-dir DIR] [--max-size SIZE] [--all]
 *   wharf inspect FILE
 *
 * `wharf inspect` prints a component's imports and exports as WIT (its
 * world, then the body of each named interface), or a core module's
 * import/export list with the exported functions' signatures.
 *
 * Loading, for `wharf run`: a FILE that starts with the serialized-module
 * magic ("WHARFMOD", what `wharf compile` writes) is deserialized, not
 * compiled; it must come from an engine with the same fingerprint, i.e.
 * `wharf compile --fuel` for `run --fuel`, `--epoch` for `run --timeout`,
 * `--simd` for `run --simd` (SIMD modules are refused without it).
 * Otherwise, when --data-dir DIR or $WHARF_DATA_DIR names a data
 * directory, the module goes through the compilation cache in DIR/cache
 * (loaded if cached, else compiled and stored); without one it is simply
 * compiled.  A component goes through the cache the same way (its core
 * modules compiled as one artifact; its own sections decoded each time),
 * for `wharf run`, `wharf invoke` ($WHARF_DATA_DIR) and
 * `wharf compile --data-dir`; it has no precompiled-file form.
 *
 * FILE is mapped, compiled, linked against WASI preview1 (plus no-op
 * `bench.start` / `bench.end`, so sightglass benchmarks run) and
 * instantiated; then `_start` runs with ARGS as argv[1..], or, with
 * --invoke, NAME runs with ARGS parsed as its parameters and its results
 * are printed one per line.
 *
 * A FILE that is a component (layer 1 in its preamble) must be a command
 * component exporting wasi:cli/run@0.2.x: it runs with WASI 0.2
 * (component-model/wh_wasi_p2.h) given the same ARGS, --env and --dir
 * (read-only there), and the process's stdout/stderr, like `wasmtime run`.
 *
 * Exit status: the guest's proc_exit (or wasi:cli/exit) code; 0 when it
 * returns normally (a command's run returning err: 1);
 * 1 when the module cannot be loaded, linked or instantiated; 2 for a
 * usage error; 134 (128 + SIGABRT, as wasmtime) when it traps, after
 * "wharf: trap: MESSAGE" and the backtrace on stderr.
 *
 * Start-up is kept lean: the file is mmap'ed rather than read, the engine
 * has fuel and epoch checks compiled out unless --fuel asks for fuel, and
 * nothing else is initialised.
 */
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wasi_p1.h"
#include "wh_cache.h"
#include "wh_cm.h"
#include "wh_engine.h"
#include "wh_wasi_p2.h"

#define EXIT_LOAD 1
#define EXIT_USAGE 2
#define EXIT_TRAP (128 + 6)

typedef struct run_opts {
  wh_wasi_preopen_t *dirs;
  size_t ndirs;
  const char **envs;
  size_t nenvs;
  bool fuel_set;
  uint64_t fuel;
  uint64_t timeout_ms;    /* 0: none */
  const char *invoke;
  bool simd;              /* --simd: accept SIMD (v128) modules */
  int tier;               /* --tier: wh_tier_t */
  const char *data_dir;   /* --data-dir or $WHARF_DATA_DIR; NULL: no cache */
  const char *file;
  char **args;            /* guest arguments after FILE */
  int nargs;
  char **owned;           /* strings made while parsing, freed at the end */
  size_t nowned;
} run_opts_t;

static void usage(FILE *out)
{
  fprintf(out,
          "usage: wharf run [OPTIONS] FILE.wasm|FILE.cwasm [ARGS...]\n"
          "       wharf compile [--fuel] [--epoch] [--simd] [--tier T] [--data-dir DIR] FILE.wasm [-o OUT]\n"
          "       wharf cache stats|gc|clear [--data-dir DIR] [--max-size SIZE] [--all]\n"
          "       wharf inspect FILE\n"
          "       wharf --version\n"
          "       wharf help\n"
          "\n"
          "Runs a WebAssembly module with WASI preview1, or a command component\n"
          "(exporting wasi:cli/run) with WASI 0.2 (--dir preopens are read-only).\n"
          "\n"
          "options for run:\n"
          "  --dir HOST[::GUEST]  preopen directory HOST as GUEST (default: same)\n"
          "  --env NAME[=VALUE]   set a guest environment variable (no VALUE:\n"
          "                       take it from wharf's own environment)\n"
          "  --fuel N             run with N units of fuel; trap when it runs out\n"
          "  --timeout MS         trap \"deadline exceeded\" after MS milliseconds\n"
          "  --invoke NAME        call export NAME instead of _start, with ARGS as\n"
          "                       its parameters, and print its results\n"
          "  --simd               accept modules that use SIMD (v128 values and\n"
          "                       instructions), which are refused without it\n"
          "  --tier T             interp (default), native (LLVM-compiled code)\n"
          "                       or auto\n"
          "  --data-dir DIR       load through the compilation cache in DIR/cache\n"
          "                       (default: $WHARF_DATA_DIR; neither: no cache)\n"
          "\n"
          "compile: precompiles FILE to OUT (default FILE with .cwasm for .wasm),\n"
          "which `wharf run` loads without compiling; with --data-dir and no -o,\n"
          "stores it in the cache instead.  The engine configuration is part of\n"
          "the result: --fuel for runs with --fuel, --epoch for runs with --timeout,\n"
          "--simd for runs with --simd, --tier for runs with --tier.\n"
          "\n"
          "cache (DIR from --data-dir or $WHARF_DATA_DIR):\n"
          "  stats                counters and size of DIR/cache\n"
          "  gc                   reconcile index and files, evict down to the bound\n"
          "                       (--max-size SIZE sets the bound, e.g. 512MiB)\n"
          "  clear                remove every unpinned artifact (--all: pinned too)\n"
          "\n"
          "inspect: prints a component's imports and exports as WIT, or a core\n"
          "module's imports and exports.\n");
}

/* Accepts "--opt VALUE" and "--opt=VALUE"; returns the value or NULL if
 * argv[*i] is not `opt`. */
static const char *opt_value(int argc, char **argv, int *i, const char *opt,
                             bool *missing)
{
  size_t n = strlen(opt);
  *missing = false;
  if (strncmp(argv[*i], opt, n) != 0)
    return NULL;
  if (argv[*i][n] == '=')
    return argv[*i] + n + 1;
  if (argv[*i][n] != '\0')
    return NULL;
  if (*i + 1 >= argc) {
    *missing = true;
    return NULL;
  }
  return argv[++*i];
}

static int parse_run(int argc, char **argv, run_opts_t *o)
{
  int i;
  memset(o, 0, sizeof *o);
  o->dirs = calloc((size_t)argc, sizeof *o->dirs);
  o->envs = calloc((size_t)argc, sizeof *o->envs);
  o->owned = calloc((size_t)argc, sizeof *o->owned);
  if (o->dirs == NULL || o->envs == NULL || o->owned == NULL) {
    fprintf(stderr, "wharf: out of memory\n");
    return EXIT_LOAD;
  }
  for (i = 0; i < argc; i++) {
    const char *v;
    bool missing;
    if (argv[i][0] != '-')
      break;
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if ((v = opt_value(argc, argv, &i, "--dir", &missing)) != NULL) {
      const char *sep = strstr(v, "::");
      wh_wasi_preopen_t *d = &o->dirs[o->ndirs++];
      if (sep == NULL) {
        d->host_path = v;
        d->guest_path = v;
      } else {
        char *host = strndup(v, (size_t)(sep - v));
        if (host == NULL)
          return EXIT_LOAD;
        o->owned[o->nowned++] = host;
        d->host_path = host;
        d->guest_path = sep + 2;
      }
    } else if ((v = opt_value(argc, argv, &i, "--env", &missing)) != NULL) {
      if (strchr(v, '=') == NULL) {
        const char *host = getenv(v);
        char *kv;
        if (host == NULL)
          continue;
        if (asprintf(&kv, "%s=%s", v, host) < 0)
          return EXIT_LOAD;
        o->owned[o->nowned++] = kv;
        v = kv;
      }
      o->envs[o->nenvs++] = v;
    } else if ((v = opt_value(argc, argv, &i, "--fuel", &missing)) != NULL) {
      char *end;
      errno = 0;
      o->fuel = strtoull(v, &end, 10);
      if (errno != 0 || end == v || *end != '\0' || v[0] == '-') {
        fprintf(stderr, "wharf: --fuel wants a number, not '%s'\n", v);
        return EXIT_USAGE;
      }
      o->fuel_set = true;
    } else if ((v = opt_value(argc, argv, &i, "--timeout", &missing)) != NULL) {
      char *end;
      errno = 0;
      o->timeout_ms = strtoull(v, &end, 10);
      if (errno != 0 || end == v || *end != '\0' || v[0] == '-' ||
          o->timeout_ms == 0) {
        fprintf(stderr, "wharf: --timeout wants a positive number of milliseconds, not '%s'\n", v);
        return EXIT_USAGE;
      }
    } else if ((v = opt_value(argc, argv, &i, "--invoke", &missing)) != NULL) {
      o->invoke = v;
    } else if (strcmp(argv[i], "--simd") == 0) {
      o->simd = true;
    } else if ((v = opt_value(argc, argv, &i, "--tier", &missing)) != NULL) {
      if ((o->tier = wh_tier_parse(v)) < 0) {
        fprintf(stderr, "wharf: --tier wants interp, native or auto, not '%s'\n", v);
        return EXIT_USAGE;
      }
    } else if ((v = opt_value(argc, argv, &i, "--data-dir", &missing)) != NULL) {
      o->data_dir = v;
    } else {
      if (missing)
        fprintf(stderr, "wharf: %s wants a value\n", argv[i]);
      else
        fprintf(stderr, "wharf: unknown option '%s'\n", argv[i]);
      usage(stderr);
      return EXIT_USAGE;
    }
  }
  if (i >= argc) {
    fprintf(stderr, "wharf: no module given\n");
    usage(stderr);
    return EXIT_USAGE;
  }
  o->file = argv[i];
  o->args = argv + i + 1;
  o->nargs = argc - i - 1;
  if (o->data_dir == NULL && getenv("WHARF_DATA_DIR") != NULL &&
      getenv("WHARF_DATA_DIR")[0] != '\0')
    o->data_dir = getenv("WHARF_DATA_DIR");
  return 0;
}

static int bench_noop(wh_caller_t *caller, void *env, uint64_t *slots)
{
  return 0;
}

static void print_diag(const char *file, const wh_diag_t *d, int err)
{
  const char *msg = d->msg[0] ? d->msg : wh_strerror(err);
  if (d->offset >= 0)
    fprintf(stderr, "wharf: %s: %s (at byte offset %lld)\n", file, msg,
            d->offset);
  else
    fprintf(stderr, "wharf: %s: %s\n", file, msg);
}

static int report_trap(wh_exec_t *x)
{
  const char *msg = NULL, *bt = NULL;
  wh_trap_code_t code = wh_exec_trap(x, &msg, &bt);
  fprintf(stderr, "wharf: trap: %s%s\n", msg ? msg : "unknown trap",
          code == WH_TRAP_OUT_OF_FUEL ? " (out of fuel; raise --fuel)" : "");
  if (bt != NULL && bt[0] != '\0') {
    size_t n = strlen(bt);
    fputs(bt, stderr);
    if (bt[n - 1] != '\n')
      fputc('\n', stderr);
  }
  return EXIT_TRAP;
}

/* Outcome of instantiate or call: the process exit status to use, or -1
 * to carry on. */
static int outcome(int rc, wh_exec_t *x, const char *file, const wh_diag_t *d)
{
  if (rc == 0)
    return -1;
  if (rc == WH_EEXIT)
    return wh_exec_exit_status(x) & 0xff;
  if (rc == WH_ETRAP)
    return report_trap(x);
  if (d != NULL)
    print_diag(file, d, rc);
  else
    fprintf(stderr, "wharf: %s: %s\n", file, wh_strerror(rc));
  return EXIT_LOAD;
}

static int parse_arg(const char *s, char type, wh_val_t *v)
{
  char *end;
  errno = 0;
  switch (type) {
  case 'i': {
    long long n = strtoll(s, &end, 0);
    if (n < INT32_MIN || n > UINT32_MAX)
      return -1;
    v->type = WH_I32;
    v->of.i32 = (int32_t)(uint32_t)n;
    break;
  }
  case 'I':
    v->type = WH_I64;
    if (s[0] == '-')
      v->of.i64 = strtoll(s, &end, 0);
    else
      v->of.i64 = (int64_t)strtoull(s, &end, 0);
    break;
  case 'f':
    v->type = WH_F32;
    v->of.f32 = strtof(s, &end);
    break;
  case 'F':
    v->type = WH_F64;
    v->of.f64 = strtod(s, &end);
    break;
  default:
    return -1;
  }
  return (errno != 0 || end == s || *end != '\0') ? -1 : 0;
}

static void print_val(const wh_val_t *v)
{
  switch (v->type) {
  case WH_I32: printf("%" PRId32 "\n", v->of.i32); break;
  case WH_I64: printf("%" PRId64 "\n", v->of.i64); break;
  case WH_F32: printf("%.9g\n", (double)v->of.f32); break;
  case WH_F64: printf("%.17g\n", v->of.f64); break;
  default:
    if (v->of.ref == NULL)
      printf("null\n");
    else
      printf("ref %p\n", v->of.ref);
    break;
  }
}

/* Calls export `name` with the command line's ARGS and prints results. */
static int invoke(wh_exec_t *x, wh_instance_t *inst, const run_opts_t *o)
{
  wh_func_t *f = wh_instance_func(inst, o->invoke);
  wh_func_t *init = wh_instance_func(inst, "_initialize");
  const char *params, *results;
  wh_val_t *args = NULL, *res = NULL;
  size_t np, nr;
  int rc, status = EXIT_LOAD;

  if (f == NULL) {
    fprintf(stderr, "wharf: %s: no exported function '%s'\n", o->file,
            o->invoke);
    goto fail;
  }
  wh_func_type(f, &params, &results);
  np = strlen(params);
  nr = strlen(results);
  if ((size_t)o->nargs != np) {
    fprintf(stderr, "wharf: %s: '%s' takes %zu argument(s), %d given\n",
            o->file, o->invoke, np, o->nargs);
    status = EXIT_USAGE;
    goto fail;
  }
  args = calloc(np + 1, sizeof *args);
  res = calloc(nr + 1, sizeof *res);
  if (args == NULL || res == NULL) {
    fprintf(stderr, "wharf: out of memory\n");
    goto fail;
  }
  for (size_t i = 0; i < np; i++) {
    if (parse_arg(o->args[i], params[i], &args[i]) != 0) {
      fprintf(stderr, "wharf: %s: argument %zu ('%s') is not a valid %c\n",
              o->file, i + 1, o->args[i], params[i]);
      status = EXIT_USAGE;
      goto fail;
    }
  }
  if (init != NULL) {
    rc = wh_call(x, init, NULL, 0, NULL, 0);
    if ((status = outcome(rc, x, o->file, NULL)) >= 0)
      goto fail;
  }
  rc = wh_call(x, f, args, np, res, nr);
  if ((status = outcome(rc, x, o->file, NULL)) >= 0)
    goto fail;
  for (size_t i = 0; i < nr; i++)
    print_val(&res[i]);
  status = 0;
fail:
  free(args);
  free(res);
  return status;
}

/* Maps FILE read-only; *len 0 and NULL on error (reported). */
static uint8_t *map_file(const char *file, size_t *len)
{
  struct stat st;
  void *p;
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  *len = 0;
  if (fd < 0 || fstat(fd, &st) != 0) {
    fprintf(stderr, "wharf: %s: %s\n", file, strerror(errno));
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  if (!S_ISREG(st.st_mode) || st.st_size == 0) {
    fprintf(stderr, "wharf: %s: not a regular, non-empty file\n", file);
    close(fd);
    return NULL;
  }
  p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    fprintf(stderr, "wharf: %s: %s\n", file, strerror(errno));
    return NULL;
  }
  *len = (size_t)st.st_size;
  return p;
}


/* ---- the compilation cache and precompiled modules ---------------------- */

#define CWASM_MAGIC "WHARFMOD"  /* wh_module_serialize's magic */

static void cache_log(void *user, int code, const char *msg)
{
  fprintf(stderr, "wharf: %s\n", msg);
}

/* Opens DATA_DIR's cache with its log going to stderr (tools pass
 * max_bytes 0, the bound a daemon recorded, and WH_CACHE_NO_RECONCILE).
 * NULL after a message. */
static wh_cache_t *open_cache(const char *data_dir, uint64_t max_bytes,
                              unsigned flags)
{
  wh_diag_t diag;
  wh_cache_t *c = wh_cache_open(data_dir, max_bytes, flags, &diag);
  if (c == NULL)
    fprintf(stderr, "wharf: cache in %s: %s\n", data_dir,
            diag.msg[0] ? diag.msg : wh_strerror(diag.code));
  else
    wh_cache_set_log(c, cache_log, NULL);
  return c;
}

/* The module in `bytes`: deserialized if precompiled, else through the
 * cache in `data_dir` (if any), else compiled.  NULL after a message.
 * *cache is the cache it came through, or NULL: the caller closes it
 * after freeing the module, so that with --tier auto a background compile
 * that ends meanwhile is written back to it (the cache stores it). */
static wh_module_t *load_module(wh_engine_t *e, const char *file,
                                const char *data_dir, const uint8_t *bytes,
                                size_t len, wh_cache_t **cache)
{
  wh_diag_t diag;
  wh_module_t *m = NULL;
  wh_cache_t *c = NULL;
  *cache = NULL;

  wh_diag_clear(&diag);
  if (len >= 8 && memcmp(bytes, CWASM_MAGIC, 8) == 0) {
    m = wh_module_deserialize(e, bytes, len, &diag);
    if (m == NULL && strstr(diag.msg, "fingerprint") != NULL) {
      fprintf(stderr,
              "wharf: %s: precompiled for another engine configuration or "
              "wharf build; this run needs '%s' (compile with --fuel for "
              "--fuel, --epoch for --timeout, --simd for --simd, --tier T "
              "for --tier T)\n",
              file, wh_engine_fingerprint(e));
      return NULL;
    }
  } else if (data_dir != NULL &&
             (c = open_cache(data_dir, 0, WH_CACHE_NO_RECONCILE)) != NULL) {
    wh_cache_get_module(c, e, bytes, len, &m, NULL, &diag);
    *cache = c;
  } else {
    if (data_dir != NULL)
      fprintf(stderr, "wharf: compiling without the cache\n");
    m = wh_module_new(e, bytes, len, &diag);
  }
  if (m == NULL)
    print_diag(file, &diag, diag.code);
  return m;
}

/* The component in `bytes`: through the cache in `data_dir` (if any and
 * it opens: its core modules loaded if cached, else compiled and stored),
 * else compiled.  NULL with `diag` filled; *hit (may be NULL) as
 * wh_cm_component_new_cached.  *cache as for load_module. */
static wh_cm_component_t *load_component(wh_engine_t *e, const char *data_dir,
                                         const uint8_t *bytes, size_t len, bool *hit,
                                         wh_diag_t *diag, wh_cache_t **cache)
{
  wh_cache_t *c = NULL;
  wh_cm_component_t *cc;
  if (data_dir != NULL &&
      (c = open_cache(data_dir, 0, WH_CACHE_NO_RECONCILE)) == NULL)
    fprintf(stderr, "wharf: compiling without the cache\n");
  cc = wh_cm_component_new_cached(e, c, bytes, len, hit, diag);
  *cache = c;
  return cc;
}

/* Writes `len` bytes to `path` atomically (temp, fsync, rename). */
static int write_file_atomic(const char *path, const uint8_t *p, size_t len)
{
  char *tmp = NULL;
  int fd = -1, rc = -1;
  if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
    tmp = NULL;
    goto fail;
  }
  fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0)
    goto fail;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      goto fail;
    p += w;
    len -= (size_t)w;
  }
  if (fchmod(fd, 0644) != 0 || fsync(fd) != 0 || rename(tmp, path) != 0)
    goto fail;
  rc = 0;
fail:
  if (rc != 0 && fd >= 0)
    unlink(tmp);
  if (fd >= 0)
    close(fd);
  free(tmp);
  return rc;
}

/* "FILE.wasm" -> "FILE.cwasm"; anything else gets ".cwasm" appended. */
static char *default_out(const char *file)
{
  size_t n = strlen(file);
  char *out;
  if (n > 5 && strcmp(file + n - 5, ".wasm") == 0) {
    if (asprintf(&out, "%.*s.cwasm", (int)(n - 5), file) < 0)
      return NULL;
  } else if (asprintf(&out, "%s.cwasm", file) < 0) {
    return NULL;
  }
  return out;
}

static const char *data_dir_or_env(const char *data_dir)
{
  const char *env = getenv("WHARF_DATA_DIR");
  if (data_dir != NULL)
    return data_dir;
  return env != NULL && env[0] != '\0' ? env : NULL;
}

static int cmd_compile(int argc, char **argv)
{
  wh_engine_config_t ec;
  wh_engine_t *e = NULL;
  wh_module_t *m = NULL;
  wh_cache_t *c = NULL;
  wh_diag_t diag;
  const char *file = NULL, *out = NULL, *data_dir = NULL;
  char *owned_out = NULL;
  uint8_t *bytes = NULL, *blob = NULL;
  size_t len = 0, blen = 0;
  int status = EXIT_USAGE, rc;

  wh_engine_config_default(&ec);
  ec.fuel = false;
  ec.epoch_interrupt = false;
  for (int i = 0; i < argc; i++) {
    const char *v;
    bool missing;
    if (strcmp(argv[i], "--fuel") == 0) {
      ec.fuel = true;
    } else if (strcmp(argv[i], "--epoch") == 0) {
      ec.epoch_interrupt = true;
    } else if (strcmp(argv[i], "--simd") == 0) {
      ec.simd = true;
    } else if ((v = opt_value(argc, argv, &i, "--tier", &missing)) != NULL) {
      int t = wh_tier_parse(v);
      if (t < 0) {
        fprintf(stderr, "wharf: --tier wants interp, native or auto, not '%s'\n", v);
        goto done;
      }
      ec.tier = (wh_tier_t)t;
    } else if ((v = opt_value(argc, argv, &i, "--data-dir", &missing)) != NULL) {
      data_dir = v;
    } else if ((v = opt_value(argc, argv, &i, "-o", &missing)) != NULL ||
               (v = opt_value(argc, argv, &i, "--output", &missing)) != NULL) {
      out = v;
    } else if (missing) {
      fprintf(stderr, "wharf: %s wants a value\n", argv[i]);
      goto done;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "wharf: unknown option '%s'\n", argv[i]);
      usage(stderr);
      goto done;
    } else if (file == NULL) {
      file = argv[i];
    } else {
      fprintf(stderr, "wharf: compile takes one FILE\n");
      goto done;
    }
  }
  if (file == NULL) {
    fprintf(stderr, "wharf: no module given\n");
    usage(stderr);
    goto done;
  }
  data_dir = data_dir_or_env(data_dir);
  status = EXIT_LOAD;
  if ((bytes = map_file(file, &len)) == NULL)
    goto done;
  if ((e = wh_engine_new(&ec)) == NULL) {
    fprintf(stderr, "wharf: out of memory\n");
    goto done;
  }
  if (out == NULL && data_dir != NULL) {
    bool hit = false;
    if ((c = open_cache(data_dir, 0, WH_CACHE_NO_RECONCILE)) == NULL)
      goto done;
    if (len >= 8 && memcmp(bytes, "\0asm", 4) == 0 && bytes[6] == 1 && bytes[7] == 0) {
      /* a component: its core modules, compiled, as one artifact */
      wh_cm_component_t *cc = wh_cm_component_new_cached(e, c, bytes, len, &hit, &diag);
      rc = cc != NULL ? 0 : diag.code;
      wh_cm_component_free(cc);
    } else {
      rc = wh_cache_get_module(c, e, bytes, len, &m, &hit, &diag);
    }
    if (rc != 0) {
      print_diag(file, &diag, rc);
      goto done;
    }
    printf("%s: %s the cache in %s\n", file, hit ? "already in" : "stored in",
           wh_cache_dir(c));
    status = 0;
    goto done;
  }
  wh_diag_clear(&diag);
  if ((m = wh_module_new(e, bytes, len, &diag)) == NULL) {
    print_diag(file, &diag, diag.code);
    goto done;
  }
  if ((rc = wh_module_serialize(m, &blob, &blen)) != 0) {
    fprintf(stderr, "wharf: %s: %s\n", file, wh_strerror(rc));
    goto done;
  }
  if (out == NULL && (out = owned_out = default_out(file)) == NULL) {
    fprintf(stderr, "wharf: out of memory\n");
    goto done;
  }
  if (write_file_atomic(out, blob, blen) != 0) {
    fprintf(stderr, "wharf: %s: %s\n", out, strerror(errno));
    goto done;
  }
  status = 0;
done:
  wh_module_free(m);   /* first: tier auto writes its native code back */
  wh_cache_close(c);
  wh_engine_free(e);
  if (bytes != NULL)
    munmap(bytes, len);
  free(blob);
  free(owned_out);
  return status;
}

/* "512MiB", "1G", "1048576" -> bytes; "unlimited" -> UINT64_MAX. */
static int parse_size(const char *s, uint64_t *out)
{
  static const struct { const char *suffix; uint64_t mult; } units[] = {
    {"", 1}, {"B", 1}, {"K", 1ull << 10}, {"KiB", 1ull << 10},
    {"M", 1ull << 20}, {"MiB", 1ull << 20}, {"G", 1ull << 30},
    {"GiB", 1ull << 30}, {"T", 1ull << 40}, {"TiB", 1ull << 40},
  };
  char *end;
  if (strcmp(s, "unlimited") == 0) {
    *out = UINT64_MAX;
    return 0;
  }
  errno = 0;
  unsigned long long n = strtoull(s, &end, 10);
  if (errno != 0 || end == s || s[0] == '-')
    return -1;
  for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
    if (strcmp(end, units[i].suffix) == 0) {
      if (n == 0 || n > UINT64_MAX / units[i].mult)
        return -1;
      *out = n * units[i].mult;
      return 0;
    }
  }
  return -1;
}

static void print_ms(const char *label, uint64_t ns, uint64_t n)
{
  printf("%-15s %.1f ms", label, ns / 1e6);
  if (n > 0)
    printf(" (%.3f ms each)", ns / 1e6 / (double)n);
  printf("\n");
}

static int cmd_cache(int argc, char **argv)
{
  const char *sub = argc > 0 ? argv[0] : NULL;
  const char *data_dir = NULL;
  uint64_t max_bytes = 0;
  bool all = false;
  wh_cache_t *c = NULL;
  wh_diag_t diag;
  wh_cache_gc_report_t rep;
  int status = EXIT_USAGE;

  if (sub == NULL || (strcmp(sub, "stats") != 0 && strcmp(sub, "gc") != 0 &&
                      strcmp(sub, "clear") != 0)) {
    fprintf(stderr, "wharf: cache wants stats, gc or clear\n");
    usage(stderr);
    return EXIT_USAGE;
  }
  for (int i = 1; i < argc; i++) {
    const char *v;
    bool missing;
    if ((v = opt_value(argc, argv, &i, "--data-dir", &missing)) != NULL) {
      data_dir = v;
    } else if ((v = opt_value(argc, argv, &i, "--max-size", &missing)) != NULL) {
      if (strcmp(sub, "gc") != 0 || parse_size(v, &max_bytes) != 0) {
        fprintf(stderr, "wharf: --max-size is for gc and wants a size such as "
                        "512MiB, not '%s'\n", v);
        return EXIT_USAGE;
      }
    } else if (strcmp(argv[i], "--all") == 0 && strcmp(sub, "clear") == 0) {
      all = true;
    } else {
      if (missing)
        fprintf(stderr, "wharf: %s wants a value\n", argv[i]);
      else
        fprintf(stderr, "wharf: unknown option '%s' for cache %s\n", argv[i], sub);
      return EXIT_USAGE;
    }
  }
  if ((data_dir = data_dir_or_env(data_dir)) == NULL) {
    fprintf(stderr, "wharf: cache %s needs --data-dir DIR or $WHARF_DATA_DIR\n", sub);
    return EXIT_USAGE;
  }
  status = EXIT_LOAD;
  if (strcmp(sub, "stats") == 0) {
    wh_cache_stats_t t;
    char *index = NULL;
    struct stat st;
    if (asprintf(&index, "%s/cache/index.db", data_dir) < 0)
      return EXIT_LOAD;
    if (stat(index, &st) != 0) {
      fprintf(stderr, "wharf: no cache in %s\n", data_dir);
      free(index);
      return EXIT_LOAD;
    }
    free(index);
    if ((c = open_cache(data_dir, 0, WH_CACHE_NO_RECONCILE)) == NULL)
      goto done;
    if (wh_cache_stats(c, NULL, &t, &diag) != 0) {
      fprintf(stderr, "wharf: %s\n", diag.msg);
      goto done;
    }
    printf("%-15s %s\n", "cache:", wh_cache_dir(c));
    printf("%-15s %" PRIu64 " (%" PRIu64 " pinned)\n", "entries:", t.entries,
           t.pinned);
    if (t.max_bytes == UINT64_MAX)
      printf("%-15s %" PRIu64 " (no bound)\n", "bytes:", t.bytes);
    else
      printf("%-15s %" PRIu64 " of %" PRIu64 " (%.1f%%)\n", "bytes:", t.bytes,
             t.max_bytes, t.max_bytes ? 100.0 * t.bytes / t.max_bytes : 0.0);
    printf("%-15s %" PRIu64 "\n", "hits:", t.hits);
    printf("%-15s %" PRIu64 "\n", "misses:", t.misses);
    printf("%-15s %" PRIu64 "\n", "compiles:", t.compiles);
    print_ms("compile time:", t.compile_ns, t.compiles);
    print_ms("load time:", t.load_ns, t.hits);
    printf("%-15s %" PRIu64 "\n", "stores:", t.stores);
    printf("%-15s %" PRIu64 "\n", "evictions:", t.evictions);
    printf("%-15s %" PRIu64 "\n", "corrupt drops:", t.corrupt_drops);
    printf("%-15s %" PRIu64 "\n", "errors:", t.errors);
  } else if (strcmp(sub, "gc") == 0) {
    if ((c = open_cache(data_dir, max_bytes, WH_CACHE_NO_RECONCILE)) == NULL)
      goto done;
    if (wh_cache_gc(c, &rep, &diag) != 0) {
      fprintf(stderr, "wharf: %s\n", diag.msg);
      goto done;
    }
    printf("gc: %" PRIu64 " rows without files, %" PRIu64 " files without rows, %"
           PRIu64 " stale temp files, %" PRIu64 " evicted; %" PRIu64 " bytes freed\n",
           rep.rows_dropped, rep.files_removed, rep.temps_removed, rep.evicted,
           rep.bytes_freed);
  } else {
    if ((c = open_cache(data_dir, 0, WH_CACHE_NO_RECONCILE)) == NULL)
      goto done;
    if (wh_cache_clear(c, all, &rep, &diag) != 0) {
      fprintf(stderr, "wharf: %s\n", diag.msg);
      goto done;
    }
    printf("clear: %" PRIu64 " entries removed%s; %" PRIu64 " bytes freed\n",
           rep.cleared, all ? " (pins too)" : " (pinned ones kept)", rep.bytes_freed);
  }
  status = 0;
done:
  wh_cache_close(c);
  return status;
}

/* Whether `bytes` start with a component's preamble (layer 1). */
static bool is_component(const uint8_t *bytes, size_t len)
{
  return len >= 8 && memcmp(bytes, "\0asm", 4) == 0 && bytes[6] == 1 && bytes[7] == 0;
}

/* `wharf run` of a command component: WASI 0.2 with the process's
 * stdout/stderr, ARGS after FILE, only the --env variables and --dir
 * directories (read-only), then wasi:cli/run.  The exit status is what
 * the guest passed to wasi:cli/exit, 0 when run returns ok, 1 for err. */
static int run_component(const run_opts_t *o, wh_engine_t *e, const uint8_t *bytes,
                         size_t len)
{
  wh_cache_t *cache = NULL;
  wh_diag_t diag;
  wh_cm_component_t *c = NULL;
  wh_cm_linker_t *l = NULL;
  wh_cm_instance_t *inst = NULL;
  wh_wasi_p2_t *w = NULL;
  wh_wasi_p2_config_t wc;
  wh_wasi_p2_preopen_t *pre = NULL;
  wh_exec_t *x = NULL;
  const char **gargv = NULL;
  char name[256];
  int rc, status = EXIT_LOAD;

  if (o->invoke != NULL) {
    fprintf(stderr, "wharf: %s is a component: use `wharf invoke FILE EXPORT [ARGS]`\n",
            o->file);
    return EXIT_USAGE;
  }
  wh_diag_clear(&diag);
  c = load_component(e, o->data_dir, bytes, len, NULL, &diag, &cache);
  if (c == NULL) {
    print_diag(o->file, &diag, diag.code);
    goto done;
  }
  if (wh_wasi_p2_run_export(c, name, sizeof name) != 0) {
    fprintf(stderr, "wharf: %s: this component exports no wasi:cli/run: use `wharf invoke`\n",
            o->file);
    goto done;
  }
  gargv = calloc((size_t)o->nargs + 1, sizeof *gargv);
  pre = calloc(o->ndirs ? o->ndirs : 1, sizeof *pre);
  if (gargv == NULL || pre == NULL)
    goto oom;
  gargv[0] = o->file;
  for (int i = 0; i < o->nargs; i++)
    gargv[i + 1] = o->args[i];
  for (size_t i = 0; i < o->ndirs; i++) {
    pre[i].host_path = o->dirs[i].host_path;
    pre[i].guest_path = o->dirs[i].guest_path;
  }
  wh_wasi_p2_config_init(&wc);
  wc.argv = gargv;
  wc.argc = (size_t)o->nargs + 1;
  wc.envp = o->envs;
  wc.envc = o->nenvs;
  wc.preopens = pre;
  wc.npreopens = o->ndirs;
  wc.stdout_fd = STDOUT_FILENO;
  wc.stderr_fd = STDERR_FILENO;
  wc.portable_resolve = getenv("WHARF_WASI_PORTABLE_RESOLVE") != NULL;
  w = wh_wasi_p2_new(&wc, &diag);
  if (w == NULL) {
    fprintf(stderr, "wharf: %s\n", diag.msg[0] ? diag.msg : "out of memory");
    goto done;
  }
  l = wh_cm_linker_new(e);
  x = wh_exec_new(e);
  if (l == NULL || x == NULL)
    goto oom;
  if ((rc = wh_wasi_p2_define(l)) != 0) {
    fprintf(stderr, "wharf: cannot define WASI: %s\n", wh_strerror(rc));
    goto done;
  }
  if (o->fuel_set)
    wh_exec_set_fuel(x, o->fuel);
  if (o->timeout_ms) {
    wh_epoch_start(o->timeout_ms < 100 ? 1 : 10);
    wh_exec_set_deadline_ms(x, o->timeout_ms);
  }
  wh_wasi_p2_attach(x, w);
  rc = wh_cm_instantiate(l, c, x, NULL, &inst, &diag);
  if (rc != 0) {
    fprintf(stderr, "wharf: %s%s: %s\n", rc == WH_ETRAP ? "trap: " : "", o->file,
            diag.msg[0] ? diag.msg : wh_strerror(rc));
    status = rc == WH_ETRAP ? EXIT_TRAP : EXIT_LOAD;
    goto done;
  }
  rc = wh_wasi_p2_run(inst, c, x, &status);
  if (rc == WH_ETRAP) {
    fprintf(stderr, "wharf: trap: %s\n", wh_cm_instance_trap(inst));
    status = EXIT_TRAP;
  } else if (rc != 0) {
    fprintf(stderr, "wharf: %s: %s\n", o->file,
            wh_cm_instance_trap(inst)[0] ? wh_cm_instance_trap(inst) : wh_strerror(rc));
    status = EXIT_LOAD;
  }
  goto done;
oom:
  fprintf(stderr, "wharf: out of memory\n");
done:
  wh_cm_instance_free(inst);
  wh_wasi_p2_free(w);
  wh_exec_free(x);
  wh_cm_linker_free(l);
  wh_cm_component_free(c);
  wh_cache_close(cache);
  free(gargv);
  free(pre);
  return status;
}

static int cmd_run(int argc, char **argv)
{
  wh_cache_t *cache = NULL;
  run_opts_t o = {0};
  wh_engine_config_t ec;
  wh_wasi_config_t wc;
  wh_diag_t diag;
  wh_engine_t *e = NULL;
  wh_module_t *m = NULL;
  wh_wasi_t *w = NULL;
  wh_linker_t *l = NULL;
  wh_exec_t *x = NULL;
  wh_instance_t *inst = NULL;
  const char **gargv = NULL;
  uint8_t *bytes = NULL;
  size_t len = 0;
  int rc, status;

  if ((status = parse_run(argc, argv, &o)) != 0)
    goto done;
  status = EXIT_LOAD;

  bytes = map_file(o.file, &len);
  if (bytes == NULL)
    goto done;
  wh_engine_config_default(&ec);
  ec.fuel = o.fuel_set;
  ec.epoch_interrupt = o.timeout_ms != 0;
  ec.simd = o.simd;
  ec.tier = (wh_tier_t)o.tier;
  e = wh_engine_new(&ec);
  if (e == NULL) {
    fprintf(stderr, "wharf: out of memory\n");
    goto done;
  }
  if (is_component(bytes, len)) {
    status = run_component(&o, e, bytes, len);
    munmap(bytes, len);
    goto done;
  }
  m = load_module(e, o.file, o.data_dir, bytes, len, &cache);
  munmap(bytes, len);
  if (m == NULL)
    goto done;

  gargv = calloc((size_t)o.nargs + 1, sizeof *gargv);
  if (gargv == NULL)
    goto done;
  gargv[0] = o.file;
  for (int i = 0; i < o.nargs; i++)
    gargv[i + 1] = o.args[i];
  wh_wasi_config_init(&wc);
  wc.argv = gargv;
  wc.argc = (size_t)o.nargs + 1;
  wc.envp = o.envs;
  wc.envc = o.nenvs;
  wc.preopens = o.dirs;
  wc.npreopens = o.ndirs;
  /* Test hook: exercise the openat()-per-component resolver. */
  wc.portable_resolve = getenv("WHARF_WASI_PORTABLE_RESOLVE") != NULL;
  wh_diag_clear(&diag);
  w = wh_wasi_new(&wc, &diag);
  if (w == NULL) {
    fprintf(stderr, "wharf: %s\n", diag.msg[0] ? diag.msg : "out of memory");
    goto done;
  }

  l = wh_linker_new(e);
  x = wh_exec_new(e);
  if (l == NULL || x == NULL) {
    fprintf(stderr, "wharf: out of memory\n");
    goto done;
  }
  if ((rc = wh_wasi_define(w, l)) != 0 ||
      (rc = wh_linker_define_func(l, "bench", "start", "", "", bench_noop,
                                  NULL)) != 0 ||
      (rc = wh_linker_define_func(l, "bench", "end", "", "", bench_noop,
                                  NULL)) != 0) {
    fprintf(stderr, "wharf: cannot define host functions: %s\n",
            wh_strerror(rc));
    goto done;
  }
  if (o.fuel_set)
    wh_exec_set_fuel(x, o.fuel);
  if (o.timeout_ms) {
    wh_epoch_start(o.timeout_ms < 100 ? 1 : 10);
    wh_exec_set_deadline_ms(x, o.timeout_ms);
  }

  wh_diag_clear(&diag);
  rc = wh_linker_instantiate(l, m, x, &inst, &diag);
  if ((status = outcome(rc, x, o.file, &diag)) >= 0)
    goto done;

  if (o.invoke != NULL) {
    status = invoke(x, inst, &o);
  } else {
    wh_func_t *start = wh_instance_func(inst, "_start");
    status = 0;
    if (start != NULL) {
      rc = wh_call(x, start, NULL, 0, NULL, 0);
      if ((status = outcome(rc, x, o.file, NULL)) < 0)
        status = 0;
    }
  }

done:
  wh_instance_free(inst);
  wh_exec_free(x);
  wh_linker_free(l);
  wh_wasi_free(w);
  wh_module_free(m);
  wh_cache_close(cache);
  wh_engine_free(e);
  free(gargv);
  for (size_t i = 0; i < o.nowned; i++)
    free(o.owned[i]);
  free(o.owned);
  free(o.dirs);
  free(o.envs);
  return status;
}

/* ---- inspect ------------------------------------------------------------- */

static int cmd_inspect(int argc, char **argv)
{
  wh_engine_config_t ec;
  wh_engine_t *e = NULL;
  wh_cm_component_t *c = NULL;
  wh_module_t *m = NULL;
  wh_diag_t diag;
  uint8_t *bytes = NULL;
  size_t len = 0;
  char *text = NULL;
  int rc, status = EXIT_LOAD;

  if (argc != 1 || argv[0][0] == '-') {
    fprintf(stderr, "usage: wharf inspect FILE\n");
    return EXIT_USAGE;
  }
  bytes = map_file(argv[0], &len);
  if (bytes == NULL)
    goto done;
  wh_engine_config_default(&ec);
  e = wh_engine_new(&ec);
  if (e == NULL) {
    fprintf(stderr, "wharf: out of memory\n");
    goto done;
  }
  /* the layer field of the preamble tells a component (1) from a module */
  if (len >= 8 && memcmp(bytes, "\0asm", 4) == 0 && bytes[6] == 1 &&
      bytes[7] == 0) {
    wh_diag_clear(&diag);
    c = wh_cm_component_new(e, bytes, len, &diag);
    if (c == NULL) {
      print_diag(argv[0], &diag, diag.code);
      goto done;
    }
    rc = wh_cm_component_wit(c, &text);
  } else {
    wh_diag_clear(&diag);
    m = wh_module_new(e, bytes, len, &diag);
    if (m == NULL) {
      print_diag(argv[0], &diag, diag.code);
      goto done;
    }
    rc = wh_cm_module_listing(m, &text);
  }
  if (rc != 0) {
    fprintf(stderr, "wharf: %s\n", wh_strerror(rc));
    goto done;
  }
  fputs(text, stdout);
  status = fflush(stdout) == 0 ? 0 : EXIT_LOAD;

done:
  free(text);
  wh_cm_component_free(c);
  wh_module_free(m);
  wh_engine_free(e);
  if (bytes != NULL)
    munmap(bytes, len);
  return status;
}

/* `wharf invoke FILE EXPORT [JSON-ARGS]`: instantiates a component (WASI
 * 0.2 imports linked to the real host, with the guest's stdout/stderr
 * passed through; other imports to functions that trap "import X was not
 * provided"), calls EXPORT with the JSON array of arguments and prints
 * the JSON result.  With $WHARF_DATA_DIR set the component goes through
 * the compilation cache there, as for `wharf run`.  Exit status: 0; 1
 * load, link or argument error; 134 trap; the guest's status if it called
 * wasi:cli/exit. */
static int cmd_invoke(int argc, char **argv)
{
  wh_cache_t *cache = NULL;
  wh_engine_t *e = NULL;
  wh_cm_component_t *c = NULL;
  wh_cm_linker_t *l = NULL;
  wh_cm_instance_t *inst = NULL;
  wh_exec_t *x = NULL;
  wh_cm_val *args = NULL, result;
  wh_wasi_p2_t *w = NULL;
  size_t nargs = 0;
  json_t *jargs = NULL, *jres = NULL;
  wh_diag_t diag;
  uint8_t *bytes = NULL;
  size_t len = 0;
  int status = EXIT_LOAD;
  bool have_result = false;

  memset(&result, 0, sizeof result);
  if (argc < 2 || argc > 3 || argv[0][0] == '-') {
    fprintf(stderr, "usage: wharf invoke FILE EXPORT [JSON-ARGS]\n");
    return EXIT_USAGE;
  }
  json_error_t jerr;
  jargs = json_loads(argc == 3 ? argv[2] : "[]", JSON_DECODE_ANY, &jerr);
  if (jargs == NULL || !json_is_array(jargs)) {
    fprintf(stderr, "wharf: JSON-ARGS must be a JSON array%s%s\n", jargs ? "" : ": ",
            jargs ? "" : jerr.text);
    json_decref(jargs);
    return EXIT_USAGE;
  }
  bytes = map_file(argv[0], &len);
  if (bytes == NULL)
    goto done;
  e = wh_engine_new(NULL);
  x = e ? wh_exec_new(e) : NULL;
  l = e ? wh_cm_linker_new(e) : NULL;
  if (x == NULL || l == NULL) {
    fprintf(stderr, "wharf: out of memory\n");
    goto done;
  }
  wh_diag_clear(&diag);
  c = load_component(e, data_dir_or_env(NULL), bytes, len, NULL, &diag, &cache);
  if (c == NULL) {
    if (diag.code == WH_ENOTCOMPONENT)
      fprintf(stderr, "wharf: %s is a core module: use `wharf run --invoke`\n", argv[0]);
    else
      print_diag(argv[0], &diag, diag.code);
    goto done;
  }
  /* WASI 0.2 for real (stdout/stderr pass through, no args but FILE, no
   * env, no preopens); other imports trap when called */
  wh_cm_linker_trap_missing(l, true);
  wh_wasi_p2_config_t wc;
  wh_wasi_p2_config_init(&wc);
  wc.argv = (const char *const *)argv;
  wc.argc = 1;
  wc.stdout_fd = STDOUT_FILENO;
  wc.stderr_fd = STDERR_FILENO;
  if (wh_wasi_p2_define(l) != 0 || (w = wh_wasi_p2_new(&wc, &diag)) == NULL) {
    fprintf(stderr, "wharf: cannot set up WASI\n");
    goto done;
  }
  wh_wasi_p2_attach(x, w);
  wh_diag_clear(&diag);
  if (wh_cm_instantiate(l, c, x, NULL, &inst, &diag) != 0) {
    fprintf(stderr, "wharf: %s: %s\n", argv[0], diag.msg[0] ? diag.msg : "cannot instantiate");
    goto done;
  }
  wh_cm_type_ref_t fn;
  if (wh_cm_instance_func(inst, argv[1], &fn) != 0) {
    fprintf(stderr, "wharf: %s: no exported function \"%s\" (or the name is ambiguous)\n",
            argv[0], argv[1]);
    goto done;
  }
  wh_diag_clear(&diag);
  if (wh_cm_json_args(c, fn, jargs, &args, &nargs, &diag) != 0) {
    fprintf(stderr, "wharf: %s\n", diag.msg);
    goto done;
  }
  int rc = wh_cm_call(inst, argv[1], args, nargs, &result, 1, x);
  if (rc == WH_EEXIT) {   /* wasi:cli/exit: its status, no result */
    status = wh_exec_exit_status(x);
    goto done;
  }
  if (rc == WH_ETRAP) {
    fprintf(stderr, "wharf: trap: %s\n", wh_cm_instance_trap(inst));
    status = EXIT_TRAP;
    goto done;
  }
  if (rc != 0) {
    fprintf(stderr, "wharf: %s\n", wh_cm_instance_trap(inst) ? wh_cm_instance_trap(inst)
                                                             : wh_strerror(rc));
    goto done;
  }
  have_result = true;
  wh_diag_clear(&diag);
  if (wh_cm_json_result(c, fn, &result, &jres, &diag) != 0) {
    fprintf(stderr, "wharf: %s\n", diag.msg);
    goto done;
  }
  char *text = json_dumps(jres, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
  if (text) puts(text);
  free(text);
  status = 0;
done:
  if (have_result) wh_cm_val_fini(&result);
  wh_cm_vals_free(args, nargs);
  json_decref(jargs);
  json_decref(jres);
  wh_cm_instance_free(inst);
  wh_wasi_p2_free(w);
  wh_cm_linker_free(l);
  wh_cm_component_free(c);
  wh_cache_close(cache);
  wh_exec_free(x);
  wh_engine_free(e);
  if (bytes != NULL)
    munmap(bytes, len);
  return status;
}

int main(int argc, char **argv)
{
  const char *cmd = argc > 1 ? argv[1] : NULL;

  if (cmd == NULL) {
    usage(stderr);
    return EXIT_USAGE;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 ||
      strcmp(cmd, "version") == 0) {
    printf("wharf %s\n", WHARF_VERSION);
    return 0;
  }
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
      strcmp(cmd, "-h") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "run") == 0)
    return cmd_run(argc - 2, argv + 2);
  if (strcmp(cmd, "compile") == 0)
    return cmd_compile(argc - 2, argv + 2);
  if (strcmp(cmd, "cache") == 0)
    return cmd_cache(argc - 2, argv + 2);
  if (strcmp(cmd, "inspect") == 0)
    return cmd_inspect(argc - 2, argv + 2);
  if (strcmp(cmd, "invoke") == 0)
    return cmd_invoke(argc - 2, argv + 2);
  /* `wharf [OPTIONS] FILE.wasm ...`, as wasmtime allows */
  if (cmd[0] != '-' || strncmp(cmd, "--", 2) == 0)
    return cmd_run(argc - 1, argv + 1);
  fprintf(stderr, "wharf: unknown command '%s'\n", cmd);
  usage(stderr);
  return EXIT_USAGE;
}
