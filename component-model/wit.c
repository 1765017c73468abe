/*
 * wit.c - a component's imports and exports printed as WIT text (what
 * `wharf inspect` shows), and a core module's import/export listing.
 *
 * Output shape (what `jco wit` / `wasm-tools component wit` print, plus
 * the bodies of the named interfaces, which they leave out):
 *
 *   package root:component;
 *
 *   world root {
 *     import wasi:io/error@0.2.0;        <- a named (ns:pkg/iface) instance
 *     import imports: interface { ... }  <- a plain-named instance, inline
 *     import f: func(a: s32) -> s32;     <- a function
 *     use test:x/y.{thing};              <- a type import
 *
 *     export ...                         <- the same for exports
 *   }
 *
 *   package wasi:io@0.2.0 {              <- one block per package, in
 *     interface error {                     order of first use, with each
 *       resource error { ... }              named interface printed once
 *     }
 *   }
 *
 * Type names.  The binary gives a name to a type only where an instance
 * or component type exports it (`(export "thing" (type (eq N)))`), which
 * makes an ALIAS node (or a fresh RESOURCE).  So printing first walks
 * every interface and registers (tid, name, owning interface) in binary
 * order; a type reference then prints as the first registered name found
 * along its alias chain, or failing that as the name of a registered type
 * with the same underlying node (resources, records, ... have identity).
 * An interface's type export whose node was registered earlier by another
 * interface prints as `use other.{name}`; one registered earlier by the
 * same interface as `type name = other-name`.
 *
 * Resources gather their functions from the `[constructor]r`,
 * `[method]r.f` and `[static]r.f` exports of the same interface.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_int.h"

/* ---- a growing string ------------------------------------------------------ */
typedef struct sbuf {
  char *p;
  size_t n, cap;
  bool oom;
} sbuf_t;

static void sb_putn(sbuf_t *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { b->oom = true; return; }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void sb_put(sbuf_t *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) { sb_putn(b, tmp, (size_t)n); return; }
  char *big = malloc((size_t)n + 1);
  if (!big) { b->oom = true; return; }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_putn(b, big, (size_t)n);
  free(big);
}

static void sb_indent(sbuf_t *b, int depth) {
  for (int i = 0; i < depth; i++) sb_put(b, "  ");
}

static int sb_finish(sbuf_t *b, char **out) {
  if (!b->oom && !b->p) sb_put(b, "");
  if (b->oom) { free(b->p); *out = NULL; return WH_ENOMEM; }
  *out = b->p;
  return 0;
}

/* ---- identifiers -------------------------------------------------------------- */
static const char *const keywords[] = {
  "as", "async", "bool", "borrow", "char", "constructor", "enum", "export",
  "f32", "f64", "flags", "from", "func", "future", "import", "include",
  "interface", "list", "map", "option", "own", "package", "record",
  "resource", "result", "s16", "s32", "s64", "s8", "static", "stream",
  "string", "tuple", "type", "u16", "u32", "u64", "u8", "use", "variant",
  "with", "world", "_",
};

/* An identifier, `%`-escaped when it is a keyword. */
static void put_id(sbuf_t *b, const char *s) {
  for (size_t i = 0; i < sizeof keywords / sizeof *keywords; i++)
    if (strcmp(s, keywords[i]) == 0) { sb_put(b, "%"); break; }
  sb_put(b, s);
}

static const char *const prim_names[] = {
  NULL, "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64",
  "f32", "f64", "char", "string",
};

/* ---- the name registry ----------------------------------------------------------- */
typedef struct named {
  wh_cm_tid_t tid;         /* the export's type (an ALIAS or a RESOURCE) */
  const char *name;
  const char *owner;       /* interface name; NULL for the world */
} named_t;

typedef struct wit {
  const wh_cm_component_t *c;
  sbuf_t b;
  named_t *v;
  size_t n, cap;
  const char **done;       /* named interfaces already printed */
  size_t ndone, capdone;
  bool oom;
} wit_t;

static void reg(wit_t *w, wh_cm_tid_t tid, const char *name, const char *owner) {
  if (w->n == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 64;
    named_t *v = realloc(w->v, cap * sizeof *v);
    if (!v) { w->oom = true; return; }
    w->v = v;
    w->cap = cap;
  }
  w->v[w->n++] = (named_t){ tid, name, owner };
}

/* Registers the type exports of an instance type (recursively through
 * nested instances, which WIT cannot express but which can carry types). */
static void reg_instance(wit_t *w, wh_cm_tid_t inst, const char *owner, int depth) {
  const wh_cm_type_t *t = wh_cm__ty(w->c, wh_cm__peel(w->c, inst));
  if ((t->kind != WH_CM_T_INSTANCE && t->kind != WH_CM_T_COMPONENT) || depth > 8) return;
  for (uint32_t i = 0; i < t->nexp; i++) {
    const wh_cm_item_t *it = &t->exp[i];
    if (it->ext.sort == WH_CM_SORT_TYPE) reg(w, it->ext.type, it->name, owner);
  }
}

/* The first registered entry, among the first `limit`, naming `t`: along
 * its alias chain first, then by underlying node. */
static const named_t *lookup_in(const wit_t *w, wh_cm_tid_t t, size_t limit) {
  const wh_cm_component_t *c = w->c;
  for (wh_cm_tid_t u = t, hops = 0; u && u < c->ntypes && hops < 1000; hops++) {
    for (size_t i = 0; i < limit; i++)
      if (w->v[i].tid == u) return &w->v[i];
    if (c->types[u].kind != WH_CM_T_ALIAS) break;
    u = c->types[u].a;
  }
  wh_cm_tid_t p = wh_cm__peel(c, t);
  if (p <= WH_CM_T_LAST_PRIM) return NULL;
  for (size_t i = 0; i < limit; i++)
    if (wh_cm__peel(c, w->v[i].tid) == p) return &w->v[i];
  return NULL;
}

static const named_t *lookup(const wit_t *w, wh_cm_tid_t t) { return lookup_in(w, t, w->n); }

/* ---- types ---------------------------------------------------------------------- */
static void put_type(wit_t *w, wh_cm_tid_t t, int depth);

static void put_resource_name(wit_t *w, wh_cm_tid_t res) {
  const named_t *nm = lookup(w, res);
  if (nm) put_id(&w->b, nm->name);
  else sb_printf(&w->b, "resource-%u", (unsigned)wh_cm__peel(w->c, res));
}

/* The structure of `p` (already peeled), naming its parts. */
static void put_structure(wit_t *w, wh_cm_tid_t p, int depth) {
  const wh_cm_component_t *c = w->c;
  sbuf_t *b = &w->b;
  if (p == 0 || p >= c->ntypes) { sb_put(b, "_"); return; }
  if (p <= WH_CM_T_LAST_PRIM) { sb_put(b, prim_names[p]); return; }
  const wh_cm_type_t *t = wh_cm__ty(c, p);
  if (depth > 64) { sb_put(b, "..."); return; }
  switch (t->kind) {
  case WH_CM_T_LIST:
    sb_put(b, "list<"); put_type(w, t->a, depth + 1); sb_put(b, ">");
    break;
  case WH_CM_T_FIXED_LIST:
    sb_put(b, "list<"); put_type(w, t->a, depth + 1);
    sb_printf(b, ", %u>", (unsigned)t->n);
    break;
  case WH_CM_T_OPTION:
    sb_put(b, "option<"); put_type(w, t->a, depth + 1); sb_put(b, ">");
    break;
  case WH_CM_T_RESULT:
    sb_put(b, "result");
    if (t->a || t->b) {
      sb_put(b, "<");
      if (t->a) put_type(w, t->a, depth + 1); else sb_put(b, "_");
      if (t->b) { sb_put(b, ", "); put_type(w, t->b, depth + 1); }
      sb_put(b, ">");
    }
    break;
  case WH_CM_T_TUPLE:
    sb_put(b, "tuple<");
    for (uint32_t i = 0; i < t->n; i++) {
      if (i) sb_put(b, ", ");
      put_type(w, t->f[i].type, depth + 1);
    }
    sb_put(b, ">");
    break;
  case WH_CM_T_OWN:
    put_resource_name(w, t->a);
    break;
  case WH_CM_T_BORROW:
    sb_put(b, "borrow<"); put_resource_name(w, t->a); sb_put(b, ">");
    break;
  case WH_CM_T_RECORD: case WH_CM_T_VARIANT: case WH_CM_T_FLAGS:
  case WH_CM_T_ENUM: {
    /* not expressible anonymously in WIT: shown inline */
    static const char *const kw[] = { [WH_CM_T_RECORD] = "record",
      [WH_CM_T_VARIANT] = "variant", [WH_CM_T_FLAGS] = "flags", [WH_CM_T_ENUM] = "enum" };
    sb_printf(b, "%s { ", kw[t->kind]);
    for (uint32_t i = 0; i < t->n; i++) {
      if (i) sb_put(b, ", ");
      put_id(b, t->f[i].name ? t->f[i].name : "_");
      if (t->kind == WH_CM_T_RECORD) { sb_put(b, ": "); put_type(w, t->f[i].type, depth + 1); }
      else if (t->kind == WH_CM_T_VARIANT && t->f[i].type) {
        sb_put(b, "("); put_type(w, t->f[i].type, depth + 1); sb_put(b, ")");
      }
    }
    sb_put(b, " }");
    break;
  }
  case WH_CM_T_RESOURCE:
    sb_printf(b, "resource-%u", (unsigned)p);
    break;
  default:
    sb_printf(b, "/* type %u */", (unsigned)p);
    break;
  }
}

/* A reference to a type: its name when it has one. */
static void put_type(wit_t *w, wh_cm_tid_t t, int depth) {
  const named_t *nm = lookup(w, t);
  if (nm) {
    put_id(&w->b, nm->name);
    return;
  }
  put_structure(w, wh_cm__peel(w->c, t), depth);
}

/* `(a: T, b: T) -> R`; `skip` params are left out (a method's self). */
static void put_sig(wit_t *w, wh_cm_tid_t fn, uint32_t skip, bool result) {
  const wh_cm_type_t *f = wh_cm__ty(w->c, wh_cm__peel(w->c, fn));
  sbuf_t *b = &w->b;
  sb_put(b, "(");
  if (f->kind == WH_CM_T_FUNC) {
    for (uint32_t i = skip; i < f->n; i++) {
      if (i > skip) sb_put(b, ", ");
      put_id(b, f->f[i].name ? f->f[i].name : "_");
      sb_put(b, ": ");
      put_type(w, f->f[i].type, 0);
    }
  }
  sb_put(b, ")");
  if (result && f->kind == WH_CM_T_FUNC && f->a) {
    sb_put(b, " -> ");
    put_type(w, f->a, 0);
  }
}

static void put_func_item(wit_t *w, const char *name, wh_cm_tid_t fn, int depth) {
  sb_indent(&w->b, depth);
  put_id(&w->b, name);
  sb_put(&w->b, ": func");
  put_sig(w, fn, 0, true);
  sb_put(&w->b, ";\n");
}

/* If `name` is "[kind]res" or "[kind]res.fn" for `res`, returns what
 * follows "res" ("" or ".fn"); otherwise NULL. */
static const char *res_func(const char *name, const char *kind, const char *res) {
  size_t kl = strlen(kind), rl = strlen(res);
  if (strncmp(name, kind, kl) != 0 || strncmp(name + kl, res, rl) != 0) return NULL;
  const char *rest = name + kl + rl;
  return (*rest == '\0' || *rest == '.') ? rest : NULL;
}

static void put_resource(wit_t *w, const wh_cm_item_t *items, uint32_t nitems,
                         const char *rname, int depth) {
  sbuf_t *b = &w->b;
  sb_indent(b, depth);
  sb_put(b, "resource ");
  put_id(b, rname);
  bool any = false;
  for (uint32_t i = 0; i < nitems; i++) {
    const wh_cm_item_t *x = &items[i];
    if (x->ext.sort != WH_CM_SORT_FUNC) continue;
    const char *rest;
    int what = 0;
    if ((rest = res_func(x->name, "[constructor]", rname)) && *rest == '\0') what = 1;
    else if ((rest = res_func(x->name, "[method]", rname)) && *rest == '.') what = 2;
    else if ((rest = res_func(x->name, "[static]", rname)) && *rest == '.') what = 3;
    if (!what) continue;
    if (!any) sb_put(b, " {\n");
    any = true;
    sb_indent(b, depth + 1);
    if (what == 1) {
      const wh_cm_type_t *f = wh_cm__ty(w->c, wh_cm__peel(w->c, x->ext.type));
      /* an infallible constructor returns own<r>: left out */
      bool own = f->kind == WH_CM_T_FUNC && f->a &&
                 wh_cm__ty(w->c, wh_cm__peel(w->c, f->a))->kind == WH_CM_T_OWN;
      sb_put(b, "constructor");
      put_sig(w, x->ext.type, 0, !own);
    } else {
      put_id(b, rest + 1);
      sb_put(b, what == 2 ? ": func" : ": static func");
      put_sig(w, x->ext.type, what == 2 ? 1 : 0, true);
    }
    sb_put(b, ";\n");
  }
  if (any) { sb_indent(b, depth); sb_put(b, "}\n"); }
  else sb_put(b, ";\n");
}

/* A type definition `name` of interface `owner` whose export type is
 * `tid`, made from `ref`. */
static void put_typedef(wit_t *w, const wh_cm_item_t *items, uint32_t nitems,
                        const wh_cm_item_t *x, const char *owner, int depth) {
  sbuf_t *b = &w->b;
  /* index of this item's own registration: earlier ones decide */
  size_t self = w->n;
  for (size_t i = 0; i < w->n; i++)
    if (w->v[i].tid == x->ext.type && w->v[i].name == x->name) { self = i; break; }
  const named_t *prev = lookup_in(w, x->ext.type, self);
  if (!prev && x->ext.ref) prev = lookup_in(w, x->ext.ref, self);
  if (prev && prev->owner != owner &&
      (prev->owner == NULL || owner == NULL || strcmp(prev->owner, owner) != 0)) {
    sb_indent(b, depth);
    sb_put(b, "use ");
    if (prev->owner) sb_put(b, prev->owner);
    else sb_put(b, "root");
    sb_put(b, ".{");
    put_id(b, prev->name);
    if (strcmp(prev->name, x->name) != 0) { sb_put(b, " as "); put_id(b, x->name); }
    sb_put(b, "};\n");
    return;
  }
  wh_cm_tid_t p = wh_cm__peel(w->c, x->ext.type);
  const wh_cm_type_t *t = wh_cm__ty(w->c, p);
  if (prev && strcmp(prev->name, x->name) != 0) {
    sb_indent(b, depth);
    sb_put(b, "type "); put_id(b, x->name); sb_put(b, " = ");
    put_id(b, prev->name); sb_put(b, ";\n");
    return;
  }
  if (p > WH_CM_T_LAST_PRIM && t->kind == WH_CM_T_RESOURCE) {
    put_resource(w, items, nitems, x->name, depth);
    return;
  }
  sb_indent(b, depth);
  if (p > WH_CM_T_LAST_PRIM &&
      (t->kind == WH_CM_T_RECORD || t->kind == WH_CM_T_VARIANT ||
       t->kind == WH_CM_T_FLAGS || t->kind == WH_CM_T_ENUM)) {
    static const char *const kw[] = { [WH_CM_T_RECORD] = "record ",
      [WH_CM_T_VARIANT] = "variant ", [WH_CM_T_FLAGS] = "flags ", [WH_CM_T_ENUM] = "enum " };
    sb_put(b, kw[t->kind]);
    put_id(b, x->name);
    sb_put(b, " {\n");
    for (uint32_t i = 0; i < t->n; i++) {
      sb_indent(b, depth + 1);
      put_id(b, t->f[i].name ? t->f[i].name : "_");
      if (t->kind == WH_CM_T_RECORD) { sb_put(b, ": "); put_type(w, t->f[i].type, 0); }
      else if (t->kind == WH_CM_T_VARIANT && t->f[i].type) {
        sb_put(b, "("); put_type(w, t->f[i].type, 0); sb_put(b, ")");
      }
      sb_put(b, ",\n");
    }
    sb_indent(b, depth);
    sb_put(b, "}\n");
    return;
  }
  sb_put(b, "type "); put_id(b, x->name); sb_put(b, " = ");
  put_structure(w, p, 0);
  sb_put(b, ";\n");
}

static bool is_res_func(const char *name) {
  return strncmp(name, "[constructor]", 13) == 0 || strncmp(name, "[method]", 8) == 0 ||
         strncmp(name, "[static]", 8) == 0;
}

/* The items of an instance type (an interface body), one per paragraph
 * as jco prints them. */
static void put_iface_body(wit_t *w, wh_cm_tid_t inst, const char *owner, int depth) {
  const wh_cm_type_t *it = wh_cm__ty(w->c, wh_cm__peel(w->c, inst));
  if (it->kind != WH_CM_T_INSTANCE) return;
  bool first = true;
  for (uint32_t pass = 0; pass < 2; pass++) {
    for (uint32_t i = 0; i < it->nexp; i++) {
      const wh_cm_item_t *x = &it->exp[i];
      bool want = pass == 0 ? x->ext.sort == WH_CM_SORT_TYPE
                            : x->ext.sort != WH_CM_SORT_TYPE;
      if (!want) continue;
      if (x->ext.sort == WH_CM_SORT_FUNC && is_res_func(x->name)) continue;
      if (!first) sb_put(&w->b, "\n");
      first = false;
      if (x->ext.sort == WH_CM_SORT_TYPE) put_typedef(w, it->exp, it->nexp, x, owner, depth);
      else if (x->ext.sort == WH_CM_SORT_FUNC) put_func_item(w, x->name, x->ext.type, depth);
      else {
        sb_indent(&w->b, depth);
        sb_printf(&w->b, "// %s: %s (not expressible in WIT)\n", x->name,
                  x->ext.sort == WH_CM_SORT_INSTANCE ? "instance"
                  : x->ext.sort == WH_CM_SORT_COMPONENT ? "component" : "core module");
      }
    }
  }
}

/* ---- the world -------------------------------------------------------------------- */
static bool qualified(const char *name) { return strchr(name, ':') && strchr(name, '/'); }

static void put_world_items(wit_t *w, const wh_cm_item_t *items, uint32_t n,
                            const char *dir) {
  sbuf_t *b = &w->b;
  for (uint32_t i = 0; i < n; i++) {
    const wh_cm_item_t *x = &items[i];
    switch (x->ext.sort) {
    case WH_CM_SORT_INSTANCE:
      sb_printf(b, "  %s ", dir);
      if (qualified(x->name)) { sb_put(b, x->name); sb_put(b, ";\n"); break; }
      put_id(b, x->name);
      sb_put(b, ": interface {\n");
      put_iface_body(w, x->ext.type, x->name, 2);
      sb_put(b, "  }\n");
      break;
    case WH_CM_SORT_FUNC:
      if (is_res_func(x->name)) break;    /* printed with its resource */
      sb_printf(b, "  %s ", dir);
      put_id(b, x->name);
      sb_put(b, ": func");
      put_sig(w, x->ext.type, 0, true);
      sb_put(b, ";\n");
      break;
    case WH_CM_SORT_TYPE: {
      /* jco sets a definition (not a `use`) off with a blank line */
      size_t at = b->n;
      put_typedef(w, items, n, x, NULL, 1);
      if (i > 0 && !b->oom && b->n > at && strncmp(b->p + at, "  use ", 6) != 0) {
        sb_put(b, "\n");
        if (!b->oom) {
          memmove(b->p + at + 1, b->p + at, b->n - at - 1);
          b->p[at] = '\n';
        }
      }
      break;
    }
    default:
      sb_printf(b, "  // %s %s: %s (not expressible in WIT)\n", dir, x->name,
                x->ext.sort == WH_CM_SORT_COMPONENT ? "component" : "core module");
      break;
    }
  }
}

static bool done_before(wit_t *w, const char *name) {
  for (size_t i = 0; i < w->ndone; i++)
    if (strcmp(w->done[i], name) == 0) return true;
  if (w->ndone == w->capdone) {
    size_t cap = w->capdone ? w->capdone * 2 : 16;
    const char **d = realloc(w->done, cap * sizeof *d);
    if (!d) { w->oom = true; return true; }
    w->done = d;
    w->capdone = cap;
  }
  w->done[w->ndone++] = name;
  return false;
}

/* "ns:pkg/iface@ver": the package "ns:pkg@ver" into pkg, the interface
 * "iface" into ifc. */
static void split_id(const char *id, char *pkg, size_t pkgsz, char *ifc, size_t ifcsz) {
  const char *slash = strchr(id, '/');
  const char *at = strchr(slash, '@');
  size_t pl = (size_t)(slash - id);
  size_t il = at ? (size_t)(at - slash - 1) : strlen(slash + 1);
  snprintf(pkg, pkgsz, "%.*s%s", (int)pl, id, at ? at : "");
  snprintf(ifc, ifcsz, "%.*s", (int)il, slash + 1);
}

static void put_packages(wit_t *w, const wh_cm_item_t *all[], size_t n) {
  sbuf_t *b = &w->b;
  char pkg[512], ifc[512], pkg2[512], ifc2[512];
  bool *used = calloc(n ? n : 1, sizeof *used);
  if (!used) { w->oom = true; return; }
  for (size_t i = 0; i < n; i++) {
    if (used[i]) continue;
    split_id(all[i]->name, pkg, sizeof pkg, ifc, sizeof ifc);
    sb_printf(b, "\npackage %s {\n", pkg);
    bool first = true;
    for (size_t j = i; j < n; j++) {
      if (used[j]) continue;
      split_id(all[j]->name, pkg2, sizeof pkg2, ifc2, sizeof ifc2);
      if (strcmp(pkg, pkg2) != 0) continue;
      used[j] = true;
      if (done_before(w, all[j]->name)) continue;
      if (!first) sb_put(b, "\n");
      first = false;
      sb_put(b, "  interface ");
      put_id(b, ifc2);
      sb_put(b, " {\n");
      put_iface_body(w, all[j]->ext.type, all[j]->name, 2);
      sb_put(b, "  }\n");
    }
    sb_put(b, "}\n");
  }
  free(used);
}

int wh_cm_component_wit(const wh_cm_component_t *c, char **out) {
  wit_t w = { .c = c };
  const wh_cm_type_t *root = wh_cm__ty(c, c->root->type);
  const wh_cm_item_t **named_ifaces = NULL;
  size_t nnamed = 0;
  int rc = 0;
  *out = NULL;

  /* register every name, imports first, in binary order */
  for (int dir = 0; dir < 2; dir++) {
    const wh_cm_item_t *items = dir == 0 ? root->imp : root->exp;
    uint32_t n = dir == 0 ? root->nimp : root->nexp;
    for (uint32_t i = 0; i < n; i++) {
      if (items[i].ext.sort == WH_CM_SORT_INSTANCE)
        reg_instance(&w, items[i].ext.type, items[i].name, 0);
      else if (items[i].ext.sort == WH_CM_SORT_TYPE)
        reg(&w, items[i].ext.type, items[i].name, NULL);
    }
  }
  named_ifaces = malloc(((size_t)root->nimp + root->nexp + 1) * sizeof *named_ifaces);
  if (!named_ifaces) { rc = WH_ENOMEM; goto fail; }

  sb_put(&w.b, "package root:component;\n\nworld root {\n");
  put_world_items(&w, root->imp, root->nimp, "import");
  if (root->nimp && root->nexp) sb_put(&w.b, "\n");
  put_world_items(&w, root->exp, root->nexp, "export");
  sb_put(&w.b, "}\n");

  for (int dir = 0; dir < 2; dir++) {
    const wh_cm_item_t *items = dir == 0 ? root->imp : root->exp;
    uint32_t n = dir == 0 ? root->nimp : root->nexp;
    for (uint32_t i = 0; i < n; i++)
      if (items[i].ext.sort == WH_CM_SORT_INSTANCE && qualified(items[i].name))
        named_ifaces[nnamed++] = &items[i];
  }
  put_packages(&w, named_ifaces, nnamed);
  if (w.oom) rc = WH_ENOMEM;

fail:
  free(named_ifaces);
  free(w.v);
  free(w.done);
  if (rc == 0) return sb_finish(&w.b, out);
  free(w.b.p);
  return rc;
}

/* One function type as WIT, named types by the names the component gives
 * them (registered as wh_cm_component_wit does). */
int wh_cm_func_wit(const wh_cm_component_t *c, wh_cm_type_ref_t fn, char **out) {
  wit_t w = { .c = c };
  const wh_cm_type_t *root = wh_cm__ty(c, c->root->type);
  *out = NULL;
  if (fn == 0 || fn >= c->ntypes || wh_cm__ty(c, wh_cm__peel(c, fn))->kind != WH_CM_T_FUNC)
    return WH_EINVAL;
  for (int dir = 0; dir < 2; dir++) {
    const wh_cm_item_t *items = dir == 0 ? root->imp : root->exp;
    uint32_t n = dir == 0 ? root->nimp : root->nexp;
    for (uint32_t i = 0; i < n; i++) {
      if (items[i].ext.sort == WH_CM_SORT_INSTANCE)
        reg_instance(&w, items[i].ext.type, items[i].name, 0);
      else if (items[i].ext.sort == WH_CM_SORT_TYPE)
        reg(&w, items[i].ext.type, items[i].name, NULL);
    }
  }
  sb_put(&w.b, "func");
  put_sig(&w, fn, 0, true);
  free(w.v);
  free(w.done);
  if (w.oom || w.b.oom) {
    free(w.b.p);
    return WH_ENOMEM;
  }
  return sb_finish(&w.b, out);
}

/* ---- type names (for messages) ------------------------------------------------- */
const char *wh_cm_type_name(const wh_cm_component_t *c, wh_cm_type_ref_t t) {
  if (t == 0 || t >= c->ntypes) return NULL;
  wh_cm_tid_t p = wh_cm__peel(c, t);
  /* along the alias chain, then by node, over every component and
   * instance type the decoder made */
  for (int by_node = 0; by_node < 2; by_node++) {
    if (by_node && p <= WH_CM_T_LAST_PRIM) break;
    for (wh_cm_tid_t u = t, hops = 0; u && u < c->ntypes && hops < 1000; hops++) {
      for (uint32_t k = 1; k < c->ntypes; k++) {
        const wh_cm_type_t *ty = &c->types[k];
        if (ty->kind != WH_CM_T_INSTANCE && ty->kind != WH_CM_T_COMPONENT) continue;
        for (int dir = 0; dir < 2; dir++) {
          const wh_cm_item_t *it = dir ? ty->imp : ty->exp;
          uint32_t n = dir ? ty->nimp : ty->nexp;
          for (uint32_t i = 0; i < n; i++) {
            if (it[i].ext.sort != WH_CM_SORT_TYPE) continue;
            if (by_node ? wh_cm__peel(c, it[i].ext.type) == p : it[i].ext.type == u)
              return it[i].name;
          }
        }
      }
      if (by_node || c->types[u].kind != WH_CM_T_ALIAS) break;
      u = c->types[u].a;
    }
  }
  return NULL;
}

/* ---- core modules ----------------------------------------------------------------- */
static const char *const extern_names[] = { "func", "table", "memory", "global" };

static void put_core_sig(sbuf_t *b, const char *params, const char *results) {
  static const struct { char c; const char *name; } vt[] = {
    { 'i', "i32" }, { 'I', "i64" }, { 'f', "f32" }, { 'F', "f64" },
    { 'r', "funcref" }, { 'e', "externref" }, { 'v', "v128" },
  };
  for (int side = 0; side < 2; side++) {
    const char *s = side ? results : params;
    sb_put(b, side ? " -> (" : "(");
    for (size_t i = 0; s && s[i]; i++) {
      const char *name = "?";
      for (size_t k = 0; k < sizeof vt / sizeof *vt; k++)
        if (vt[k].c == s[i]) name = vt[k].name;
      if (i) sb_put(b, ", ");
      sb_put(b, name);
    }
    sb_put(b, ")");
  }
}

int wh_cm_module_listing(const wh_module_t *m, char **out) {
  sbuf_t b = { 0 };
  uint32_t ni = wh_module_import_count(m), nx = wh_module_export_count(m);
  *out = NULL;
  for (uint32_t i = 0; i < ni; i++) {
    const char *mod = NULL, *name = NULL;
    wh_externkind_t k = WH_EXTERN_FUNC;
    if (wh_module_import(m, i, &mod, &name, &k) != 0) continue;
    sb_printf(&b, "import \"%s\" \"%s\": %s\n", mod ? mod : "", name ? name : "",
              (unsigned)k < 4 ? extern_names[k] : "?");
  }
  for (uint32_t i = 0; i < nx; i++) {
    const char *name = NULL, *params = NULL, *results = NULL;
    wh_externkind_t k = WH_EXTERN_FUNC;
    if (wh_module_export(m, i, &name, &k) != 0) continue;
    sb_printf(&b, "export \"%s\": %s", name ? name : "", (unsigned)k < 4 ? extern_names[k] : "?");
    if (k == WH_EXTERN_FUNC && wh_module_export_functype(m, name, &params, &results) == 0) {
      sb_put(&b, " ");
      put_core_sig(&b, params, results);
    }
    sb_put(&b, "\n");
  }
  return sb_finish(&b, out);
}
