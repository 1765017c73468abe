/*
 * fuzz_exec.c - fuzz target that instantiates and runs the input as a
 * module.
 *
 *   input --wh_module_new--> module (most mutants die here; the spec
 *                            corpus keeps enough of them valid)
 *     imports: the engine's API names imports but not their types, so a
 *              small reader below takes the type and import sections from
 *              the bytes (already validated by wh_module_new) and every
 *              import is satisfied: functions by a host stub that returns
 *              zeros (every 7th call traps instead), memories, tables and
 *              globals by fresh ones of the declared type
 *     instantiate on an exec with 100,000 fuel, a 64 MiB memory cap and a
 *              deadline; a trap in the start function is fine
 *     every exported function is called once with zero-valued arguments
 *              (fuel refilled each call); then exported memories and
 *              globals (and imported memories) are hashed
 *   the same again with the module put through wh_module_serialize and
 *     wh_module_deserialize: both runs must agree call by call (outcome,
 *     trap kind, fuel consumed, result bits) and in the final memories and
 *     globals
 *
 * The engine has SIMD on (wh_engine_config_t.simd), so v128 code is
 * decoded, validated, translated and run too; v128 params are zero
 * vectors, v128 results and globals are compared by their bits.
 *
 * Checked beyond "no crash, no leak": wh_call returns only 0, WH_ETRAP or
 * WH_EEXIT; a trap has a kind and a message; results carry the declared
 * types; a serialized module behaves as the original (ENGINE.md: "the same
 * fuel on every run").  Deadline traps end the comparison, as they depend
 * on the clock.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "wh_engine.h"

#define FUZZ_FUEL 100000
#define FUZZ_DEADLINE_MS 500
#define FUZZ_MEM_LIMIT (64u << 20)
#define FUZZ_MAX_IMPORT_PAGES 1024    /* imported memories: 64 MiB */
#define FUZZ_MAX_IMPORT_ELEMS 100000  /* imported tables */
#define FUZZ_MAX_RESULTS 1000         /* the engine's limit per type */

static wh_engine_t *engine;
static bool have_deadline;
/* fuzz-native (fuzz_native.c) compares the interpreter with the native
 * tier instead of with a deserialized copy.  Where a NaN comes from two
 * NaN operands, the spec lets its payload be either one's, and LLVM and
 * gcc order operands differently: so there, NaN results and globals
 * compare by class (quiet or signalling), and linear memory, which may
 * hold such NaNs anywhere, is not compared. */
#ifdef WH_FUZZ_VS_NATIVE
static wh_engine_t *other_engine;
static const bool nan_tolerant = true;
static const char *const other_name = "the native tier";
#else
static const bool nan_tolerant = false;
static const char *const other_name = "the deserialized copy";
#endif
static bool verbose;   /* $WHARF_FUZZ_VERBOSE: one line per input and call */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  wh_engine_config_t cfg;
  wh_engine_config_default(&cfg);
  cfg.simd = true;
  engine = wh_engine_new(&cfg);
  if (!engine) fuzz_fail("wh_engine_new failed");
#ifdef WH_FUZZ_VS_NATIVE
  cfg.tier = WH_TIER_NATIVE;
  other_engine = wh_engine_new(&cfg);
  if (!other_engine) fuzz_fail("wh_engine_new (native) failed");
#endif
  have_deadline = wh_epoch_start(10) == 0;
  verbose = getenv("WHARF_FUZZ_VERBOSE") != NULL;
  return 0;
}

/* ---- a reader for the type and import sections ------------------------- */

typedef struct rd {
  const uint8_t *p, *end;
  bool bad;
} rd_t;

static uint8_t rd_u8(rd_t *r) {
  if (r->p >= r->end) {
    r->bad = true;
    return 0;
  }
  return *r->p++;
}

static uint32_t rd_u32(rd_t *r) {
  uint32_t v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    uint8_t b = rd_u8(r);
    v |= (uint32_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  r->bad = true;
  return 0;
}

static const uint8_t *rd_take(rd_t *r, uint32_t n) {
  if ((size_t)(r->end - r->p) < n) {
    r->bad = true;
    return NULL;
  }
  const uint8_t *p = r->p;
  r->p += n;
  return p;
}

static char type_char(uint8_t t) {
  switch (t) {
  case 0x7f: return 'i';
  case 0x7e: return 'I';
  case 0x7d: return 'f';
  case 0x7c: return 'F';
  case 0x70: return 'r';
  case 0x6f: return 'e';
  case 0x7b: return 'v';
  default: return 0;
  }
}

typedef struct functype {
  char *params, *results;   /* type-character strings, owned */
} functype_t;

typedef struct import {
  char *module, *name;      /* NUL-terminated copies; NULL if they hold NUL */
  uint8_t kind;             /* 0 func, 1 table, 2 memory, 3 global */
  uint32_t type;            /* func: type index */
  uint8_t valtype;          /* table: elem type; global: value type */
  bool mut;                 /* global */
  uint32_t min, max;        /* table, memory; max UINT32_MAX for none */
} import_t;

typedef struct sig {
  functype_t *types;
  uint32_t ntypes;
  import_t *imports;
  uint32_t nimports;
} sig_t;

static char *rd_name(rd_t *r) {
  uint32_t n = rd_u32(r);
  const uint8_t *s = rd_take(r, n);
  if (!s || memchr(s, 0, n)) return NULL;
  char *c = malloc((size_t)n + 1);
  if (!c) return NULL;
  memcpy(c, s, n);
  c[n] = '\0';
  return c;
}

static char *rd_valtypes(rd_t *r) {
  uint32_t n = rd_u32(r);
  if (r->bad || n > (size_t)(r->end - r->p)) {
    r->bad = true;
    return NULL;
  }
  char *s = malloc((size_t)n + 1);
  if (!s) {
    r->bad = true;
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    s[i] = type_char(rd_u8(r));
    if (!s[i]) r->bad = true;
  }
  s[n] = '\0';
  return s;
}

static void rd_limits(rd_t *r, import_t *im) {
  uint8_t flags = rd_u8(r);
  im->min = rd_u32(r);
  im->max = (flags & 1) ? rd_u32(r) : UINT32_MAX;
}

static void sig_free(sig_t *s) {
  for (uint32_t i = 0; i < s->ntypes; i++) {
    free(s->types[i].params);
    free(s->types[i].results);
  }
  for (uint32_t i = 0; i < s->nimports; i++) {
    free(s->imports[i].module);
    free(s->imports[i].name);
  }
  free(s->types);
  free(s->imports);
  memset(s, 0, sizeof *s);
}

static void read_types(rd_t *r, sig_t *s) {
  uint32_t n = rd_u32(r);
  if (r->bad || n > (size_t)(r->end - r->p)) {
    r->bad = true;
    return;
  }
  s->types = calloc(n ? n : 1, sizeof *s->types);
  if (!s->types) {
    r->bad = true;
    return;
  }
  s->ntypes = n;
  for (uint32_t i = 0; i < n && !r->bad; i++) {
    if (rd_u8(r) != 0x60) r->bad = true;
    s->types[i].params = rd_valtypes(r);
    s->types[i].results = rd_valtypes(r);
  }
}

static void read_imports(rd_t *r, sig_t *s) {
  uint32_t n = rd_u32(r);
  if (r->bad || n > (size_t)(r->end - r->p)) {
    r->bad = true;
    return;
  }
  s->imports = calloc(n ? n : 1, sizeof *s->imports);
  if (!s->imports) {
    r->bad = true;
    return;
  }
  s->nimports = n;
  for (uint32_t i = 0; i < n && !r->bad; i++) {
    import_t *im = &s->imports[i];
    im->module = rd_name(r);
    im->name = rd_name(r);
    im->kind = rd_u8(r);
    switch (im->kind) {
    case 0: im->type = rd_u32(r); break;
    case 1: im->valtype = rd_u8(r); rd_limits(r, im); break;
    case 2: rd_limits(r, im); break;
    case 3: im->valtype = rd_u8(r); im->mut = rd_u8(r) == 1; break;
    default: r->bad = true;
    }
  }
}

/* Fills `s` from the module bytes; false if the sections do not read
 * (the caller then defines no imports). */
static bool read_sig(const uint8_t *data, size_t size, sig_t *s) {
  memset(s, 0, sizeof *s);
  rd_t r = {.p = data, .end = data + size};
  if (!rd_take(&r, 8)) return false;
  while (r.p < r.end && !r.bad) {
    uint8_t id = rd_u8(&r);
    uint32_t len = rd_u32(&r);
    const uint8_t *body = rd_take(&r, len);
    if (!body) break;
    rd_t sec = {.p = body, .end = body + len};
    if (id == 1 && !s->types) read_types(&sec, s);
    else if (id == 2 && !s->imports) read_imports(&sec, s);
    else continue;
    if (sec.bad) r.bad = true;
  }
  return !r.bad;
}

/* ---- the host side of the imports --------------------------------------- */

typedef struct stub {
  size_t nresults;
  unsigned long *calls;     /* the host_t's counter */
} stub_t;

static int stub_fn(wh_caller_t *c, void *env, uint64_t *slots) {
  const stub_t *st = env;
  uint64_t size;
  uint8_t *mem = wh_caller_memory(c, &size);
  if (mem && size) mem[0] ^= 0;   /* the memory is really there */
  /* wh_caller_instance is NULL when the host calls a re-exported import
   * directly through wh_call. */
  if (!wh_caller_exec(c)) fuzz_fail("host caller has no exec");
  if (++*st->calls % 7 == 0) return wh_caller_trap(c, "fuzz host trap %lu", *st->calls);
  memset(slots, 0, st->nresults * sizeof *slots);
  return 0;
}

/* Everything one run defines for the imports; owned. */
typedef struct host {
  wh_linker_t *linker;
  stub_t *stubs;
  wh_memory_t **mems;
  wh_table_t **tabs;
  wh_global_t **globals;
  uint32_t n;
  unsigned long calls;      /* stub calls so far: every 7th traps */
} host_t;

static wh_val_t zero_val(char t) {
  wh_val_t v;
  memset(&v, 0, sizeof v);
  switch (t) {
  case 'i': v.type = WH_I32; break;
  case 'I': v.type = WH_I64; break;
  case 'f': v.type = WH_F32; break;
  case 'F': v.type = WH_F64; break;
  case 'r': v.type = WH_FUNCREF; break;
  case 'v': v.type = WH_V128; break;
  default: v.type = WH_EXTERNREF; break;
  }
  return v;
}

static void host_define(host_t *h, const sig_t *s) {
  uint32_t n = s->nimports;
  h->stubs = calloc(n ? n : 1, sizeof *h->stubs);
  h->mems = calloc(n ? n : 1, sizeof *h->mems);
  h->tabs = calloc(n ? n : 1, sizeof *h->tabs);
  h->globals = calloc(n ? n : 1, sizeof *h->globals);
  if (!h->stubs || !h->mems || !h->tabs || !h->globals) return;
  h->n = n;
  for (uint32_t i = 0; i < n; i++) {
    const import_t *im = &s->imports[i];
    if (!im->module || !im->name) continue;
    switch (im->kind) {
    case 0:
      if (im->type >= s->ntypes) break;
      h->stubs[i].nresults = strlen(s->types[im->type].results);
      h->stubs[i].calls = &h->calls;
      wh_linker_define_func(h->linker, im->module, im->name, s->types[im->type].params,
                            s->types[im->type].results, stub_fn, &h->stubs[i]);
      break;
    case 1:
      if (im->min > FUZZ_MAX_IMPORT_ELEMS || !type_char(im->valtype)) break;
      h->tabs[i] = wh_table_new((wh_valtype_t)im->valtype, im->min, im->max);
      if (h->tabs[i]) wh_linker_define_table(h->linker, im->module, im->name, h->tabs[i]);
      break;
    case 2:
      if (im->min > FUZZ_MAX_IMPORT_PAGES) break;
      h->mems[i] = wh_memory_new(im->min, im->max);
      if (h->mems[i]) wh_linker_define_memory(h->linker, im->module, im->name, h->mems[i]);
      break;
    case 3:
      if (!type_char(im->valtype)) break;
      h->globals[i] = wh_global_new(zero_val(type_char(im->valtype)), im->mut);
      if (h->globals[i])
        wh_linker_define_global(h->linker, im->module, im->name, h->globals[i]);
      break;
    }
  }
}

static void host_free(host_t *h) {
  for (uint32_t i = 0; i < h->n; i++) {
    wh_memory_free(h->mems[i]);
    wh_table_free(h->tabs[i]);
    wh_global_free(h->globals[i]);
  }
  free(h->stubs);
  free(h->mems);
  free(h->tabs);
  free(h->globals);
  wh_linker_free(h->linker);
}

/* ---- one run, recorded ----------------------------------------------------- */

/* What one run of a module did, for comparing two runs. */
typedef struct call_rec {
  uint32_t export;          /* export index */
  int rc;
  wh_trap_code_t trap;
  uint64_t fuel;            /* consumed */
  uint64_t results;         /* hash of the result bits (refs: null or not) */
} call_rec_t;

typedef struct trace {
  int inst_rc;
  wh_trap_code_t inst_trap;
  call_rec_t *calls;
  size_t ncalls;
  uint64_t state;           /* hash of memories and exported globals at the end */
  bool timed_out;           /* a deadline trap: later outcomes may differ */
} trace_t;

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0x100000001b3ull;
}

/* A NaN's class: quiet or signalling (nan_tolerant), else its bits. */
static uint64_t f32_key(uint32_t b) {
  if (nan_tolerant && (b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu))
    return (b & 0x400000u) ? 0x7fc00000u : 0x7fa00000u;
  return b;
}
static uint64_t f64_key(uint64_t b) {
  if (nan_tolerant && (b & 0x7ff0000000000000ull) == 0x7ff0000000000000ull &&
      (b & 0xfffffffffffffull))
    return (b & 0x8000000000000ull) ? 0x7ff8000000000000ull : 0x7ff4000000000000ull;
  return b;
}
/* A v128 half: an f64 NaN, else two lanes that may each be an f32 NaN. */
static uint64_t v128_half_key(uint64_t b) {
  if (!nan_tolerant || f64_key(b) != b) return f64_key(b);
  return f32_key((uint32_t)b) | f32_key((uint32_t)(b >> 32)) << 32;
}

static uint64_t val_bits(const wh_val_t *v) {
  switch (v->type) {
  case WH_I32: return (uint32_t)v->of.i32;
  case WH_F32: { uint32_t b; memcpy(&b, &v->of.f32, 4); return f32_key(b); }
  case WH_F64: { uint64_t b; memcpy(&b, &v->of.f64, 8); return f64_key(b); }
  case WH_FUNCREF: case WH_EXTERNREF: return v->of.ref != NULL;
  case WH_V128: return mix(v128_half_key(v->of.v128[0]), v128_half_key(v->of.v128[1]));
  default: return v->of.bits;
  }
}

static uint64_t hash_memory(uint64_t h, wh_memory_t *mem) {
  uint64_t size = 0;
  uint8_t *base = mem ? wh_memory_data(mem, &size) : NULL;
  h = mix(h, size);
  if (!base || nan_tolerant) return h;   /* nan_tolerant: the size only */
  if (size > (1u << 20)) size = 1u << 20;   /* the first MiB is enough */
  for (uint64_t i = 0; i + 8 <= size; i += 8) {
    uint64_t w;
    memcpy(&w, base + i, 8);
    if (w) h = mix(h, w ^ i);
  }
  return h;
}

static void check_outcome(wh_exec_t *x, int rc, const char *what) {
  if (rc == 0) return;
  if (rc != WH_ETRAP && rc != WH_EEXIT)
    fuzz_fail("%s returned %s, not 0, WH_ETRAP or WH_EEXIT", what, wh_errname(rc));
  const char *msg = NULL, *bt = NULL;
  wh_trap_code_t code = wh_exec_trap(x, &msg, &bt);
  if (code == WH_TRAP_NONE || code >= WH__TRAP_COUNT)
    fuzz_fail("%s trapped (%s) with trap kind %d", what, wh_errname(rc), (int)code);
  if (!msg || !msg[0]) fuzz_fail("%s trapped without a message", what);
  if (bt) (void)strlen(bt);
}

static wh_trap_code_t trap_of(wh_exec_t *x, int rc) {
  return rc ? wh_exec_trap(x, NULL, NULL) : WH_TRAP_NONE;
}

static void set_limits(wh_exec_t *x) {
  wh_exec_set_fuel(x, FUZZ_FUEL);
  if (have_deadline) wh_exec_set_deadline_ms(x, FUZZ_DEADLINE_MS);
}

static void call_exports(wh_exec_t *x, wh_instance_t *inst, const wh_module_t *m,
                         trace_t *t) {
  static wh_val_t args[FUZZ_MAX_RESULTS], results[FUZZ_MAX_RESULTS];
  uint32_t n = wh_module_export_count(m);
  t->calls = calloc(n ? n : 1, sizeof *t->calls);
  if (!t->calls) return;
  for (uint32_t i = 0; i < n; i++) {
    const char *name = NULL, *params = NULL, *res = NULL;
    wh_externkind_t kind;
    if (wh_module_export(m, i, &name, &kind) != 0) fuzz_fail("wh_module_export failed");
    if (kind != WH_EXTERN_FUNC) continue;
    /* NULL for a name holding a NUL byte: wh_module_export gives no
     * length, so such an export cannot be named. */
    wh_func_t *f = wh_instance_func(inst, name);
    if (!f) continue;
    wh_func_type(f, &params, &res);
    size_t np = strlen(params), nr = strlen(res);
    if (np > FUZZ_MAX_RESULTS || nr > FUZZ_MAX_RESULTS)
      fuzz_fail("export \"%s\" has %zu params, %zu results", name, np, nr);
    for (size_t k = 0; k < np; k++) args[k] = zero_val(params[k]);
    set_limits(x);
    int rc = wh_call(x, f, args, np, results, nr);
    if (verbose) fprintf(stderr, "  call %s(%s)->%s: %s, %llu fuel\n", name, params, res,
                         rc ? wh_errname(rc) : "ok",
                         (unsigned long long)wh_exec_fuel_consumed(x));
    check_outcome(x, rc, "wh_call");
    call_rec_t *c = &t->calls[t->ncalls++];
    c->export = i;
    c->rc = rc;
    c->trap = trap_of(x, rc);
    c->fuel = wh_exec_fuel_consumed(x);
    if (rc == 0) {
      for (size_t k = 0; k < nr; k++) {
        if (results[k].type != zero_val(res[k]).type)
          fuzz_fail("result %zu of \"%s\" has type 0x%x, declared '%c'", k, name,
                    (unsigned)results[k].type, res[k]);
        c->results = mix(c->results, val_bits(&results[k]));
      }
    }
    if (c->trap == WH_TRAP_DEADLINE) {
      t->timed_out = true;
      return;
    }
  }
}

static uint64_t final_state(wh_instance_t *inst, const wh_module_t *m, const host_t *h) {
  uint64_t st = 0;
  for (uint32_t i = 0; i < h->n; i++)
    if (h->mems[i]) st = hash_memory(st, h->mems[i]);
  uint32_t n = wh_module_export_count(m);
  for (uint32_t i = 0; i < n; i++) {
    const char *name = NULL;
    wh_externkind_t kind;
    wh_module_export(m, i, &name, &kind);
    if (kind == WH_EXTERN_GLOBAL) {
      wh_global_t *g = wh_instance_global(inst, name);
      if (g) {
        wh_val_t v = wh_global_get(g);
        st = mix(st, val_bits(&v));
      }
    } else if (kind == WH_EXTERN_MEMORY) {
      st = hash_memory(st, wh_instance_memory(inst, name));
    }
  }
  return st;
}

/* Instantiates `m` with the imports of `sig` and calls its exports,
 * recording into `t` (whose calls the caller frees). */
static void run_module(wh_engine_t *e, const wh_module_t *m, const sig_t *sig, trace_t *t) {
  host_t host = {0};
  wh_exec_t *x = NULL;
  wh_instance_t *inst = NULL;
  memset(t, 0, sizeof *t);
  host.linker = wh_linker_new(e);
  x = wh_exec_new(e);
  if (!host.linker || !x) goto done;
  host_define(&host, sig);
  wh_exec_set_memory_limit(x, FUZZ_MEM_LIMIT);
  set_limits(x);
  wh_diag_t diag;
  int rc = wh_linker_instantiate(host.linker, m, x, &inst, &diag);
  if (verbose)
    fprintf(stderr, "instantiate: %s%s%s\n", rc ? wh_errname(rc) : "ok", rc ? ": " : "",
            rc ? diag.msg : "");
  t->inst_rc = rc;
  if (rc == 0) {
    call_exports(x, inst, m, t);
    t->state = final_state(inst, m, &host);
  } else if (rc == WH_ETRAP || rc == WH_EEXIT) {
    check_outcome(x, rc, "instantiation");
    t->inst_trap = trap_of(x, rc);
    t->timed_out = t->inst_trap == WH_TRAP_DEADLINE;
  } else if (rc != WH_EUNLINKABLE && rc != WH_ENOMEM && rc != WH_ELIMIT &&
             rc != WH_ERANGE) {   /* ERANGE: over FUZZ_MEM_LIMIT */
    fuzz_fail("wh_linker_instantiate returned %s: %s", wh_errname(rc), diag.msg);
  }
done:
  wh_instance_free(inst);
  wh_exec_free(x);
  host_free(&host);
}

/* The module and its serialized copy must behave alike: same instantiation
 * outcome, and call by call the same outcome, trap kind, fuel and results,
 * and the same memories and globals at the end.  Runs cut short by a
 * deadline are compared up to that point. */
static void compare(const trace_t *a, const trace_t *b) {
  if (a->timed_out || b->timed_out) {
    size_t n = a->ncalls < b->ncalls ? a->ncalls : b->ncalls;
    for (size_t i = 0; i + 1 < n; i++)
      if (a->calls[i].rc != b->calls[i].rc || a->calls[i].results != b->calls[i].results)
        fuzz_fail("%s: call %zu differs before a deadline", other_name, i);
    return;
  }
  if (a->inst_rc != b->inst_rc || a->inst_trap != b->inst_trap)
    fuzz_fail("%s instantiates with %s/%s, the original with %s/%s", other_name,
              wh_errname(b->inst_rc), wh_trap_text(b->inst_trap), wh_errname(a->inst_rc),
              wh_trap_text(a->inst_trap));
  if (a->ncalls != b->ncalls)
    fuzz_fail("%s: %zu calls, the original %zu", other_name, b->ncalls, a->ncalls);
  for (size_t i = 0; i < a->ncalls; i++) {
    const call_rec_t *x = &a->calls[i], *y = &b->calls[i];
    if (x->rc != y->rc || x->trap != y->trap)
      fuzz_fail("export %u: the original gives %s (%s), %s %s (%s)", x->export,
                wh_errname(x->rc), wh_trap_text(x->trap), other_name, wh_errname(y->rc),
                wh_trap_text(y->trap));
    if (x->fuel != y->fuel)
      fuzz_fail("export %u: the original consumes %llu fuel, %s %llu", x->export,
                (unsigned long long)x->fuel, other_name, (unsigned long long)y->fuel);
    if (x->results != y->results)
      fuzz_fail("export %u: results differ between the original and %s", x->export,
                other_name);
  }
  if (a->state != b->state)
    fuzz_fail("memories or globals differ between the original and %s", other_name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wh_module_t *m = wh_module_new(engine, data, size, NULL);
  if (!m) return 0;
  sig_t sig;
  bool have_sig = read_sig(data, size, &sig);
  if (have_sig && sig.nimports != wh_module_import_count(m))
    fuzz_fail("read %u imports, the engine lists %u", sig.nimports,
              wh_module_import_count(m));
  if (!have_sig && wh_module_import_count(m) > 0) goto done;

  trace_t first, second;
  run_module(engine, m, &sig, &first);
  wh_module_t *copy = NULL;
#ifdef WH_FUZZ_VS_NATIVE
  wh_engine_t *e2 = other_engine;
  copy = wh_module_new(e2, data, size, NULL);
  if (!copy) fuzz_fail("the native engine refuses a module the interpreter's took");
#else
  wh_engine_t *e2 = engine;
  uint8_t *blob = NULL;
  size_t len = 0;
  if (wh_module_serialize(m, &blob, &len) == 0)
    copy = wh_module_deserialize(engine, blob, len, NULL);
  free(blob);
#endif
  if (copy) {
    run_module(e2, copy, &sig, &second);
    compare(&first, &second);
    free(second.calls);
    wh_module_free(copy);
  }
  free(first.calls);
done:
  sig_free(&sig);
  wh_module_free(m);
  return 0;
}
