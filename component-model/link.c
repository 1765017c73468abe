/*
 * link.c - whether one component's export can satisfy another's import
 * of the same name, decided from the two components' types alone (for
 * wharfd's deploy-time links, before anything is instantiated).
 *
 *   importer: (import "ns:pkg/iface" (instance (export "f" (func ...)) ...))
 *   exporter: (export "ns:pkg/iface" (instance ...))
 *
 * Only instance (interface) imports link.  Every item the import's type
 * lists must be exported by the exporter with the same name and sort; functions must have equal types (the
 * component model's function subtyping is equality): the same parameter
 * names, and value types equal structurally with the same field, case,
 * enum and flag names.  An own/borrow handle must name the resource the
 * same interface exports under the same name on both sides (resources
 * from other interfaces are compared by name; their identity is checked
 * again at instantiation).  Extra exports on the exporter's side are
 * fine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_int.h"

typedef struct lk {
  const wh_cm_component_t *ca, *cb;   /* importer, exporter */
  const wh_cm_type_t *ia, *ib;        /* the instance types, or NULL */
  char *why;
  size_t n;
} lk_t;

static const wh_cm_type_t *ty(const wh_cm_component_t *c, wh_cm_tid_t t) {
  return &c->types[wh_cm__peel(c, t)];
}

static bool same_name(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The name under which instance type `it` exports resource `res`. */
static const char *res_name(const wh_cm_component_t *c, const wh_cm_type_t *it,
                            wh_cm_tid_t res) {
  if (!it) return NULL;
  wh_cm_tid_t p = wh_cm__peel(c, res);
  for (uint32_t i = 0; i < it->nexp; i++) {
    const wh_cm_item_t *e = &it->exp[i];
    if (e->ext.sort == WH_CM_SORT_TYPE &&
        (wh_cm__peel(c, e->ext.type) == p || wh_cm__peel(c, e->ext.ref) == p))
      return e->name;
  }
  return NULL;
}

static bool same_val(const lk_t *k, wh_cm_tid_t a, wh_cm_tid_t b, uint32_t depth) {
  if (!a || !b) return !a && !b;
  if (depth > WH_CM_MAX_TYPE_DEPTH) return false;
  const wh_cm_type_t *x = ty(k->ca, a), *y = ty(k->cb, b);
  if (x->kind != y->kind) return false;
  switch (x->kind) {
  case WH_CM_T_LIST: case WH_CM_T_OPTION:
    return same_val(k, x->a, y->a, depth + 1);
  case WH_CM_T_FIXED_LIST:
    return x->n == y->n && same_val(k, x->a, y->a, depth + 1);
  case WH_CM_T_RESULT:
    return same_val(k, x->a, y->a, depth + 1) && same_val(k, x->b, y->b, depth + 1);
  case WH_CM_T_RECORD: case WH_CM_T_TUPLE: case WH_CM_T_VARIANT:
  case WH_CM_T_FLAGS: case WH_CM_T_ENUM:
    if (x->n != y->n) return false;
    for (uint32_t i = 0; i < x->n; i++) {
      if (!same_name(x->f[i].name, y->f[i].name)) return false;
      if (!same_val(k, x->f[i].type, y->f[i].type, depth + 1)) return false;
    }
    return true;
  case WH_CM_T_OWN: case WH_CM_T_BORROW: {
    const char *na = res_name(k->ca, k->ia, x->a), *nb = res_name(k->cb, k->ib, y->a);
    if (na || nb) return same_name(na, nb);
    const char *ga = wh_cm_type_name(k->ca, x->a), *gb = wh_cm_type_name(k->cb, y->a);
    return same_name(ga, gb);
  }
  default:
    return true;   /* primitives: the kinds are equal */
  }
}

static bool same_func(const lk_t *k, wh_cm_tid_t a, wh_cm_tid_t b) {
  const wh_cm_type_t *x = ty(k->ca, a), *y = ty(k->cb, b);
  if (x->kind != WH_CM_T_FUNC || y->kind != WH_CM_T_FUNC || x->n != y->n) return false;
  for (uint32_t i = 0; i < x->n; i++)
    if (!same_name(x->f[i].name, y->f[i].name) || !same_val(k, x->f[i].type, y->f[i].type, 0))
      return false;
  return same_val(k, x->a, y->a, 0);
}

static int mismatch_func(lk_t *k, const char *what, wh_cm_tid_t a, wh_cm_tid_t b) {
  char *wa = NULL, *wb = NULL;
  wh_cm_func_wit(k->ca, a, &wa);
  wh_cm_func_wit(k->cb, b, &wb);
  snprintf(k->why, k->n, "%s: the import expects `%s`, the export is `%s`", what,
           wa ? wa : "?", wb ? wb : "?");
  free(wa);
  free(wb);
  return WH_EUNLINKABLE;
}

static const wh_cm_item_t *find_item(const wh_cm_item_t *v, uint32_t n, const char *name) {
  for (uint32_t i = 0; i < n; i++)
    if (strcmp(v[i].name, name) == 0) return &v[i];
  return NULL;
}

static const char *sort_name(uint8_t sort) {
  switch (sort) {
  case WH_CM_SORT_FUNC: return "function";
  case WH_CM_SORT_TYPE: return "type";
  case WH_CM_SORT_INSTANCE: return "instance";
  case WH_CM_SORT_COMPONENT: return "component";
  case WH_CM_SORT_CORE_MODULE: return "core module";
  default: return "value";
  }
}

int wh_cm_link_check(const wh_cm_component_t *importer, const char *name,
                     const wh_cm_component_t *exporter, char *why, size_t n) {
  lk_t k = {importer, exporter, NULL, NULL, why, n};
  const wh_cm_type_t *ra = wh_cm__ty(importer, importer->root->type);
  const wh_cm_type_t *rb = wh_cm__ty(exporter, exporter->root->type);
  const wh_cm_item_t *im = find_item(ra->imp, ra->nimp, name);
  const wh_cm_item_t *ex = find_item(rb->exp, rb->nexp, name);
  if (!im) {
    snprintf(why, n, "the component imports nothing named %s", name);
    return WH_ENOTFOUND;
  }
  if (!ex) {
    snprintf(why, n, "the linked component exports nothing named %s", name);
    return WH_EUNLINKABLE;
  }
  if (im->ext.sort != ex->ext.sort) {
    snprintf(why, n, "%s: the import is a %s, the export a %s", name, sort_name(im->ext.sort),
             sort_name(ex->ext.sort));
    return WH_EUNLINKABLE;
  }
  if (im->ext.sort != WH_CM_SORT_INSTANCE) {
    snprintf(why, n, "%s: only interface (instance) imports can be linked", name);
    return WH_EUNLINKABLE;
  }
  k.ia = ty(importer, im->ext.type);
  k.ib = ty(exporter, ex->ext.type);
  /* what both sides have first (a function of another type is the most
   * telling error), then what the exporter lacks */
  for (uint32_t i = 0; i < k.ia->nexp; i++) {
    const wh_cm_item_t *e = &k.ia->exp[i];
    const wh_cm_item_t *f = find_item(k.ib->exp, k.ib->nexp, e->name);
    char what[600];
    snprintf(what, sizeof what, "%s#%s", name, e->name);
    if (!f) continue;
    if (f->ext.sort != e->ext.sort) {
      snprintf(why, n, "%s: the import is a %s, the export a %s", what, sort_name(e->ext.sort),
               sort_name(f->ext.sort));
      return WH_EUNLINKABLE;
    }
    if (e->ext.sort == WH_CM_SORT_FUNC && !same_func(&k, e->ext.type, f->ext.type))
      return mismatch_func(&k, what, e->ext.type, f->ext.type);
    if (e->ext.sort == WH_CM_SORT_TYPE) {
      const wh_cm_type_t *ta = ty(importer, e->ext.type), *tb = ty(exporter, f->ext.type);
      bool res_a = ta->kind == WH_CM_T_RESOURCE, res_b = tb->kind == WH_CM_T_RESOURCE;
      if (res_a != res_b || (!res_a && !same_val(&k, e->ext.type, f->ext.type, 0))) {
        if (res_a != res_b)
          snprintf(why, n, "%s: %s in the import, %s in the export", what,
                   res_a ? "a resource" : "a value type", res_b ? "a resource" : "a value type");
        else
          snprintf(why, n, "%s: the import's type and the export's differ (names or types of "
                   "fields, cases or elements)", what);
        return WH_EUNLINKABLE;
      }
    }
    if (e->ext.sort != WH_CM_SORT_FUNC && e->ext.sort != WH_CM_SORT_TYPE) {
      snprintf(why, n, "%s: only functions and types can be linked inside an instance", what);
      return WH_EUNLINKABLE;
    }
  }
  for (uint32_t i = 0; i < k.ia->nexp; i++) {
    const wh_cm_item_t *e = &k.ia->exp[i];
    if (find_item(k.ib->exp, k.ib->nexp, e->name)) continue;
    snprintf(why, n, "%s#%s: the linked component's %s does not export it", name, e->name, name);
    return WH_EUNLINKABLE;
  }
  return 0;
}
