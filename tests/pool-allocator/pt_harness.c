/*
 * pt_harness.c - assertions (also from forked children), WAT compiled by
 * wat2wasm, the tenant modules and their initial-state check, small pools.
 * See pt.h for what each helper promises.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pt.h"

/* ---- assertions ------------------------------------------------------------ */

static int child_fd = -1;   /* >= 0 inside pt_in_child: failures go here */
static int quiet = -1;      /* >= 0 between pt_quiet_begin and _end: a count */

void pt_quiet_begin(void) { quiet = 0; }

int pt_quiet_end(void) {
  int n = quiet;
  quiet = -1;
  return n;
}

void pt_check(bool ok, int line, const char *file, const char *func,
              const char *fmt, ...) {
  if (quiet >= 0) {
    quiet += !ok;
    return;
  }
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (child_fd >= 0) {
    if (ok) return;
    for (char *c = msg; *c; c++)
      if (*c == '\n' || *c == '\t') *c = ' ';
    char rec[800];
    int n = snprintf(rec, sizeof rec, "%d\t%s\t%s\t%s\n", line, file, func, msg);
    if (n > (int)sizeof rec - 1) n = (int)sizeof rec - 1;
    for (int off = 0; off < n;) {
      ssize_t w = write(child_fd, rec + off, (size_t)(n - off));
      if (w <= 0) break;
      off += (int)w;
    }
    return;
  }
  /* CUnit copies the condition text into its failure record */
  CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned)line, msg, file,
                          func, CU_FALSE);
}

int pt_in_child(const char *what, void (*fn)(void *arg), void *arg) {
  int fds[2];
  if (pipe(fds) != 0) {
    PT_CHECK(false, "A pipe to the child running %s can be made (%s).", what, strerror(errno));
    return -1;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    PT_CHECK(false, "A child can be forked to run %s (%s).", what, strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    close(fds[0]);
    child_fd = fds[1];
    fn(arg);
    _exit(0);
  }
  close(fds[1]);
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (len + 1024 > cap) buf = realloc(buf, cap *= 2);
    ssize_t n = read(fds[0], buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fds[0]);
  buf[len] = '\0';
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  for (char *rec = buf, *nl; *rec; rec = nl + 1) {
    nl = strchr(rec, '\n');
    if (!nl) break;
    *nl = '\0';
    char *f[4] = {rec, NULL, NULL, NULL};
    for (int i = 1; i < 4; i++) {
      char *t = f[i - 1] ? strchr(f[i - 1], '\t') : NULL;
      if (t) *t = '\0';
      f[i] = t ? t + 1 : NULL;
    }
    CU_assertImplementation(CU_FALSE, (unsigned)atoi(f[0]), f[3] ? f[3] : "?",
                            f[1] ? f[1] : "?", f[2] ? f[2] : "?", CU_FALSE);
  }
  free(buf);
  if (WIFSIGNALED(status))
    PT_CHECK(false, "The child running %s does not crash (it died of signal %d, %s).", what,
             WTERMSIG(status), strsignal(WTERMSIG(status)));
  else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    PT_CHECK(false, "The child running %s exits with status 0 (it exited with %d).", what,
             WEXITSTATUS(status));
  return status;
}

/* ---- allocation faults ------------------------------------------------------ */

/* The binary is linked with -Wl,--wrap=calloc: every calloc from libwharf
 * (a static library) and from the tests lands here.  libc's own calls do
 * not. */
void *__real_calloc(size_t n, size_t size);
static _Atomic long calloc_calls, calloc_fail_at;

void *__wrap_calloc(size_t n, size_t size) {
  long k = atomic_fetch_add(&calloc_calls, 1) + 1;
  if (k == atomic_load(&calloc_fail_at)) return NULL;
  return __real_calloc(n, size);
}

void pt_fail_calloc(long nth) {
  atomic_store(&calloc_calls, 0);
  atomic_store(&calloc_fail_at, nth);
}

long pt_calloc_calls(void) { return atomic_load(&calloc_calls); }

/* ---- modules --------------------------------------------------------------- */

static wh_engine_t *engine;
static wh_global_t *eager_base;

wh_engine_t *pt_engine(void) {
  if (!engine) {
    wh_engine_config_t cfg;
    wh_engine_config_default(&cfg);
    cfg.fuel = false;
    cfg.epoch_interrupt = false;
    engine = wh_engine_new(&cfg);
    eager_base = wh_global_new((wh_val_t){.type = WH_I32, .of.i32 = PT_EAGER_BASE}, false);
    if (!engine || !eager_base) abort();
  }
  return engine;
}

const char *pt_wat2wasm(void) {
#ifdef PT_WAT2WASM
  return PT_WAT2WASM[0] ? PT_WAT2WASM : NULL;
#else
  return NULL;
#endif
}

typedef struct wat_entry {
  struct wat_entry *next;
  char *text;
  uint8_t *bin;
  size_t len;
} wat_entry_t;

static wat_entry_t *wat_cache;
static char wat_dir[64];

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void wat_dir_remove(void) {
  static const char *const names[] = {"m.wat", "m.wasm", "m.err"};
  char path[128];
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", wat_dir, names[i]);
    unlink(path);
  }
  rmdir(wat_dir);
}

const uint8_t *pt_wat(const char *wat, size_t *len) {
  for (wat_entry_t *e = wat_cache; e; e = e->next)
    if (strcmp(e->text, wat) == 0) {
      *len = e->len;
      return e->bin;
    }
  const char *tool = pt_wat2wasm();
  if (!tool) {
    PT_CHECK(false, "wat2wasm is available to compile the test modules.");
    return NULL;
  }
  if (!wat_dir[0]) {
    snprintf(wat_dir, sizeof wat_dir, "/tmp/wharf-unit-pool.XXXXXX");
    if (!mkdtemp(wat_dir)) abort();
    atexit(wat_dir_remove);
  }
  char in[128], out[128], err[128], cmd[1024];
  snprintf(in, sizeof in, "%s/m.wat", wat_dir);
  snprintf(out, sizeof out, "%s/m.wasm", wat_dir);
  snprintf(err, sizeof err, "%s/m.err", wat_dir);
  FILE *f = fopen(in, "w");
  if (!f) abort();
  fputs(wat, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "'%s' '%s' -o '%s' 2>'%s'", tool, in, out, err);
  int rc = system(cmd);
  size_t n = 0;
  uint8_t *bin = rc == 0 ? read_file(out, &n) : NULL;
  if (!bin) {
    size_t elen = 0;
    uint8_t *etext = read_file(err, &elen);
    PT_CHECK(false, "wat2wasm compiles the test module (it said: %.300s).",
             etext ? (const char *)etext : "nothing");
    free(etext);
    return NULL;
  }
  unlink(in);
  unlink(out);
  unlink(err);
  wat_entry_t *e = calloc(1, sizeof *e);
  e->text = strdup(wat);
  e->bin = bin;
  e->len = n;
  e->next = wat_cache;
  wat_cache = e;
  *len = n;
  return bin;
}

wh_module_t *pt_module(const char *wat) {
  size_t len;
  const uint8_t *bin = pt_wat(wat, &len);
  if (!bin) return NULL;
  wh_diag_t diag;
  wh_module_t *m = wh_module_new(pt_engine(), bin, len, &diag);
  PT_CHECK(m != NULL, "The test module loads (%s: %s).", wh_errname(diag.code), diag.msg);
  return m;
}

/* ---- tenants --------------------------------------------------------------- */

/* A: an image over two pages, a table with an element, globals. */
const pt_tenant_t PT_A = {
    .name = "A", .min = 2, .max = 8, .tmin = 4, .tmax = 16, .g = 0x1111, .h = 0x2222,
    .id = 0xA, .elem_at = 1, .nsegs = 2,
    .segs = {{0, 5000, 0x41}, {70000, 300, 0x61}}};
/* B: another tenant, a different and larger image, no element. */
const pt_tenant_t PT_B = {
    .name = "B", .min = 3, .max = 6, .tmin = 2, .tmax = 8, .g = 0x3333, .h = 0x4444,
    .id = 0xB, .elem_at = -1, .nsegs = 2,
    .segs = {{1000, 200, 0x42}, {2 * PT_PAGE + 5, 1000, 0x62}}};
/* C: no data at all, an empty table. */
const pt_tenant_t PT_C = {
    .name = "C", .min = 1, .max = 8, .tmin = 0, .tmax = 4, .g = 0x5555, .h = 0x6666,
    .id = 0xC, .elem_at = -1, .nsegs = 0};
/* E: eager, its first segment at global.get env.base. */
const pt_tenant_t PT_E = {
    .name = "E", .min = 2, .max = 8, .tmin = 3, .tmax = 16, .g = 0x7777, .h = 0x8888,
    .id = 0xE, .elem_at = 2, .eager = true, .nsegs = 2,
    .segs = {{PT_EAGER_BASE, 9000, 0x45}, {PT_PAGE + 17, 500, 0x65}}};

uint8_t pt_pattern(uint8_t seed, uint32_t i) {
  uint8_t v = (uint8_t)(seed ^ (i * 131u + (i >> 9) + (i >> 17)));
  return v ? v : seed | 1;
}

char *pt_tenant_wat(const pt_tenant_t *t) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  fprintf(f, "(module\n");
  if (t->eager) fprintf(f, "  (import \"env\" \"base\" (global $base i32))\n");
  fprintf(f, "  (type $v_i (func (result i32)))\n");
  fprintf(f, "  (memory (export \"mem\") %u %u)\n", t->min, t->max);
  fprintf(f, "  (table $t (export \"tab\") %u %u funcref)\n", t->tmin, t->tmax);
  fprintf(f, "  (global $g (export \"g\") (mut i32) (i32.const %d))\n", t->g);
  fprintf(f, "  (global $h (export \"h\") (mut i64) (i64.const %lld))\n", (long long)t->h);
  fprintf(f, "  (func $id (result i32) (i32.const %d))\n", t->id);
  fprintf(f, "  (elem declare func $id)\n");
  if (t->elem_at >= 0) fprintf(f, "  (elem (i32.const %d) func $id)\n", t->elem_at);
  for (int s = 0; s < t->nsegs; s++) {
    const pt_seg_t *g = &t->segs[s];
    if (s == 0 && t->eager) fprintf(f, "  (data (global.get $base) \"");
    else fprintf(f, "  (data (i32.const %u) \"", g->off);
    for (uint32_t i = 0; i < g->len; i++) fprintf(f, "\\%02x", pt_pattern(g->seed, i));
    fprintf(f, "\")\n");
  }
  fprintf(f,
          "  (func (export \"nop\"))\n"
          "  (func (export \"grow\") (param i32) (result i32) (memory.grow (local.get 0)))\n"
          "  (func (export \"load\") (param i32) (result i32) (i32.load8_u (local.get 0)))\n"
          "  (func (export \"store\") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))\n"
          "  (func (export \"tsize\") (result i32) (table.size $t))\n"
          "  (func (export \"tnull\") (param i32) (result i32)\n"
          "    (ref.is_null (table.get $t (local.get 0))))\n"
          "  (func (export \"tcall\") (param i32) (result i32)\n"
          "    (call_indirect $t (type $v_i) (local.get 0)))\n"
          "  (func (export \"scribble\")\n"
          "    (drop (memory.grow (i32.sub (i32.const %u) (memory.size))))\n"
          "    (memory.fill (i32.const 0) (i32.const 0xA5)\n"
          "      (i32.mul (memory.size) (i32.const 65536)))\n"
          "    (drop (table.grow $t (ref.func $id) (i32.sub (i32.const %u) (table.size $t))))\n"
          "    (table.fill $t (i32.const 0) (ref.func $id) (table.size $t))\n"
          "    (table.set $t (i32.const 0) (ref.func $id))\n"
          "    (global.set $g (i32.const 0x5EC2E7))\n"
          "    (global.set $h (i64.const 0x5EC2E75EC2E7)))\n"
          ")\n",
          t->max, t->tmax);
  fclose(f);
  return text;
}

wh_module_t *pt_tenant_module(const pt_tenant_t *t) {
  char *wat = pt_tenant_wat(t);
  wh_module_t *m = pt_module(wat);
  free(wat);
  return m;
}

uint8_t *pt_tenant_image(const pt_tenant_t *t, size_t *len) {
  *len = (size_t)t->min * PT_PAGE;
  uint8_t *b = calloc(1, *len ? *len : 1);
  for (int s = 0; s < t->nsegs; s++)
    for (uint32_t i = 0; i < t->segs[s].len; i++)
      b[t->segs[s].off + i] = pt_pattern(t->segs[s].seed, i);
  return b;
}

wh_linker_t *pt_linker(wh_table_t *tab) {
  pt_engine();
  wh_linker_t *l = wh_linker_new(engine);
  if (!l || wh_linker_define_global(l, "env", "base", eager_base) != 0) abort();
  if (tab && wh_linker_define_table(l, "env", "tab", tab) != 0) abort();
  return l;
}

int pt_call(wh_exec_t *x, wh_instance_t *inst, const char *name, int32_t *out,
            int nargs, ...) {
  wh_func_t *f = inst ? wh_instance_func(inst, name) : NULL;
  if (!f) return WH_ENOTFOUND;
  wh_val_t args[4], res[2];
  va_list ap;
  va_start(ap, nargs);
  for (int i = 0; i < nargs && i < 4; i++)
    args[i] = (wh_val_t){.type = WH_I32, .of.i32 = va_arg(ap, int32_t)};
  va_end(ap);
  const char *results;
  wh_func_type(f, NULL, &results);
  size_t nres = strlen(results);
  int rc = wh_call(x, f, args, (size_t)nargs, res, nres);
  if (rc == 0 && out && nres) *out = res[0].of.i32;
  return rc;
}

int pt_check_initial(wh_exec_t *x, wh_instance_t *inst, const pt_tenant_t *t,
                     const char *ctx) {
  int bad = 0;
#define EXPECT(cond, ...)                                                       \
  do {                                                                          \
    bool ok_ = (cond);                                                          \
    PT_CHECK(ok_, __VA_ARGS__);                                                 \
    if (!ok_) bad++;                                                            \
  } while (0)
  wh_memory_t *mem = wh_instance_memory(inst, "mem");
  EXPECT(mem != NULL, "Tenant %s exports its memory (%s).", t->name, ctx);
  if (!mem) return bad;
  uint64_t size = 0;
  const uint8_t *data = wh_memory_data(mem, &size);
  EXPECT(size == (uint64_t)t->min * PT_PAGE,
         "A fresh instance of %s has its minimum of %u pages of memory (%s); it has %llu bytes.",
         t->name, t->min, ctx, (unsigned long long)size);
  size_t ilen;
  uint8_t *want = pt_tenant_image(t, &ilen);
  uint64_t n = size < ilen ? size : ilen;
  for (uint64_t i = 0; i < n; i++)
    if (data[i] != want[i]) {
      EXPECT(false,
             "Byte %llu of a fresh instance of %s is its initial 0x%02x (%s); it reads 0x%02x.",
             (unsigned long long)i, t->name, want[i], ctx, data[i]);
      break;
    }
  free(want);
  if (t->max > t->min) {
    int32_t old = -2;
    int rc = pt_call(x, inst, "grow", &old, 1, (int32_t)(t->max - t->min));
    EXPECT(rc == 0 && old == (int32_t)t->min,
           "A fresh instance of %s grows from %u to %u pages (%s); grow gave %d (rc %s).",
           t->name, t->min, t->max, ctx, old, wh_errname(rc));
    if (rc == 0 && old == (int32_t)t->min) {
      data = wh_memory_data(mem, &size);
      for (uint64_t i = (uint64_t)t->min * PT_PAGE; i < size; i++)
        if (data[i]) {
          EXPECT(false,
                 "Byte %llu of %s's grown memory reads zero (%s); it reads 0x%02x.",
                 (unsigned long long)i, t->name, ctx, data[i]);
          break;
        }
    }
  }
  int32_t ts = -1;
  pt_call(x, inst, "tsize", &ts, 0);
  EXPECT(ts == (int32_t)t->tmin, "A fresh instance of %s has a table of %u elements (%s); it has %d.",
         t->name, t->tmin, ctx, ts);
  for (uint32_t i = 0; i < t->tmin; i++) {
    int32_t isnull = -1;
    pt_call(x, inst, "tnull", &isnull, 1, (int32_t)i);
    bool want_null = (int)i != t->elem_at;
    EXPECT(isnull == (int32_t)want_null,
           "Table entry %u of a fresh instance of %s is %s (%s).", i, t->name,
           want_null ? "null" : "its own $id", ctx);
    if (!want_null && isnull == 0) {
      int32_t id = 0;
      int rc = pt_call(x, inst, "tcall", &id, 1, (int32_t)i);
      EXPECT(rc == 0 && id == t->id,
             "Calling table entry %u of %s reaches its own $id, %d (%s); it gave %d.", i,
             t->name, t->id, ctx, id);
    }
  }
  wh_global_t *g = wh_instance_global(inst, "g"), *h = wh_instance_global(inst, "h");
  EXPECT(g && wh_global_get(g).of.i32 == t->g,
         "Global g of a fresh instance of %s holds its initial %d (%s); it holds %d.", t->name,
         t->g, ctx, g ? wh_global_get(g).of.i32 : -1);
  EXPECT(h && wh_global_get(h).of.i64 == t->h,
         "Global h of a fresh instance of %s holds its initial %lld (%s); it holds %lld.",
         t->name, (long long)t->h, ctx, h ? (long long)wh_global_get(h).of.i64 : -1LL);
#undef EXPECT
  return bad;
}

/* ---- pools ----------------------------------------------------------------- */

void pt_small_config(wh_pool_config_t *cfg, uint32_t n) {
  wh_pool_config_default(cfg);
  cfg->total_instances = n;
  cfg->total_memories = n;
  cfg->total_tables = n;
  cfg->max_memory_size = 1u << 20;
  cfg->memory_guard_size = 64u << 10;
  cfg->table_elements = 32;
  cfg->max_instance_size = 64u << 10;
  cfg->keep_resident = 0;
  cfg->max_unused_warm_slots = 8;
}

wh_pool_t *pt_pool(const wh_pool_config_t *cfg) {
  wh_diag_t diag;
  wh_pool_t *p = wh_pool_new(cfg, &diag);
  PT_CHECK(p != NULL, "A small pool can be made (%s: %s).", wh_errname(diag.code), diag.msg);
  return p;
}

bool pt_env_init(pt_env_t *e, const wh_pool_config_t *cfg) {
  memset(e, 0, sizeof *e);
  e->pool = pt_pool(cfg);
  e->x = wh_exec_new(pt_engine());
  e->l = pt_linker(NULL);
  return e->pool && e->x && e->l;
}

void pt_env_fini(pt_env_t *e) {
  wh_linker_free(e->l);
  wh_exec_free(e->x);
  wh_pool_free(e->pool);
  memset(e, 0, sizeof *e);
}

int pt_inst(pt_env_t *e, const wh_module_t *m, wh_instance_t **out) {
  *out = NULL;
  return wh_linker_instantiate_in(e->l, m, e->x, wh_pool_allocator(e->pool), out, &e->diag);
}

wh_pool_stats_t pt_stats(pt_env_t *e) {
  wh_pool_stats_t s;
  wh_pool_stats(e->pool, &s);
  return s;
}
