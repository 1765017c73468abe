/*
 * wharf-cli.c - the `wharf` command: run one WebAssembly module from the
 * command line, the way `wasmtime run` does.
 *
 *   wharf run [--dir HOST[::GUEST]]... [--env K[=V]]... [--fuel N] [--timeout MS]
 *             [--invoke NAME] FILE.wasm [ARGS...]
 *
 * FILE is mapped, compiled, linked against WASI preview1 (plus no-op
 * `bench.start` / `bench.end`, so sightglass benchmarks run) and
 * instantiated; then `_start` runs with ARGS as argv[1..], or, with
 * --invoke, NAME runs with ARGS parsed as its parameters and its results
 * are printed one per line.
 *
 * Exit status: the guest's proc_exit code; 0 when it returns normally;
 * 1 when the module cannot be loaded, linked or instantiated; 2 for a
 * usage error; 134 (128 + SIGABRT, as wasmtime) when it traps, after
 * "wharf: trap: MESSAGE" and the backtrace on stderr.
 *
 * Start-up is kept lean: the file is mmap'ed rather than read, the engine
 * has fuel and epoch checks compiled out unless --fuel asks for fuel, and
 * nothing else is initialised.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wasi_p1.h"
#include "wh_engine.h"

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
  const char *file;
  char **args;            /* guest arguments after FILE */
  int nargs;
  char **owned;           /* strings made while parsing, freed at the end */
  size_t nowned;
} run_opts_t;

static void usage(FILE *out)
{
  fprintf(out,
          "usage: wharf run [OPTIONS] FILE.wasm [ARGS...]\n"
          "       wharf --version\n"
          "       wharf help\n"
          "\n"
          "Runs a WebAssembly module with WASI preview1.\n"
          "\n"
          "options for run:\n"
          "  --dir HOST[::GUEST]  preopen directory HOST as GUEST (default: same)\n"
          "  --env NAME[=VALUE]   set a guest environment variable (no VALUE:\n"
          "                       take it from wharf's own environment)\n"
          "  --fuel N             run with N units of fuel; trap when it runs out\n"
          "  --timeout MS         trap \"deadline exceeded\" after MS milliseconds\n"
          "  --invoke NAME        call export NAME instead of _start, with ARGS as\n"
          "                       its parameters, and print its results\n");
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

static int cmd_run(int argc, char **argv)
{
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
  e = wh_engine_new(&ec);
  if (e == NULL) {
    fprintf(stderr, "wharf: out of memory\n");
    goto done;
  }
  wh_diag_clear(&diag);
  m = wh_module_new(e, bytes, len, &diag);
  munmap(bytes, len);
  if (m == NULL) {
    print_diag(o.file, &diag, diag.code);
    goto done;
  }

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
  wh_engine_free(e);
  free(gargv);
  for (size_t i = 0; i < o.nowned; i++)
    free(o.owned[i]);
  free(o.owned);
  free(o.dirs);
  free(o.envs);
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
  /* `wharf [OPTIONS] FILE.wasm ...`, as wasmtime allows */
  if (cmd[0] != '-' || strncmp(cmd, "--", 2) == 0)
    return cmd_run(argc - 1, argv + 1);
  fprintf(stderr, "wharf: unknown command '%s'\n", cmd);
  usage(stderr);
  return EXIT_USAGE;
}
