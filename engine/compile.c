/*
 * compile.c - one pass per function body: validation (the spec's operand
 * stack typing) and translation to wcode (wcode.h).
 *
 * The compile-time operand stack mirrors the runtime one.  Each entry is
 *
 *   K_SLOT   the value is in its own slot, fp[nlocals + height]
 *   K_LOCAL  the value is local N, not yet copied (local.get emits nothing)
 *   K_CONST  a constant, not yet written anywhere (i32.const emits nothing)
 *
 * Virtual entries (K_LOCAL, K_CONST) become K_SLOT ("materialize") when
 * their local is about to change, when control flow merges or splits
 * (block, loop, if, else, end, br*, return) and when they are call
 * arguments.  An operator reads a K_LOCAL operand straight from the local's
 * slot and an integer K_CONST right operand as an immediate.
 *
 * Peepholes: an operator followed by local.set/tee writes the local
 * directly; an integer compare followed by br_if/if becomes one fused
 * compare-and-branch.
 *
 * v128 (SIMD, engine flag `simd`): a v128 value takes two slots, low half
 * first, and two stack entries, typed WH_V128 then T_VHI.  Type lists
 * (function and block types) are expanded the same way before they are
 * checked against the stack ("slot types", see expand()), so counts of
 * params and results below are slot counts; locals are numbered by slot
 * too (local_slot maps a wasm local index to its first slot).
 *
 * Fuel (DESIGN.md section 3): each basic block starts with a FUEL (or
 * ENTRY/LOOP) op whose amount is the block's operator count, patched when
 * the block ends.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "reader.h"
#include "simd.h"
#include "wcode.h"

/* Why a v128 type or 0xfd opcode is refused by an engine without SIMD. */
#define SIMD_OFF \
  "SIMD (v128) is turned off in this engine (wharfd: [engine] simd = true; wharf: --simd)"

#define T_UNKNOWN 0
#define T_VHI 1             /* the high half of a v128 (second slot) */

enum { K_SLOT, K_LOCAL, K_CONST };
enum { F_FUNC, F_BLOCK, F_LOOP, F_IF, F_ELSE };

typedef struct ventry {
  uint8_t type;
  uint8_t kind;
  uint32_t local;
  uint64_t cval;
} ventry_t;

typedef struct cframe {
  uint8_t kind;
  bool unreachable;
  uint32_t height;          /* stack height below the block's params */
  uint32_t nparams, nresults;
  const uint8_t *params, *results;
  int32_t loop_pos;         /* loop: code offset of its LOOP op */
  int32_t patch_head;       /* forward branches to patch at `end` */
  int32_t else_patch;       /* if: the jump to else, or -1 */
} cframe_t;

typedef struct cc {
  wh_module_t *m;
  wh_engine_t *e;
  wh_reader_t r;
  const wh_functype_t *ft;
  uint32_t nlocals;         /* local slots (a v128 local takes two) */
  uint8_t *local_types;     /* per slot */
  uint32_t nwlocals;        /* wasm locals */
  uint32_t *local_slot;     /* wasm local index -> its first slot */
  const uint8_t *res;       /* the function's results as slot types */
  uint32_t nres;
  void **xbufs;             /* expanded type lists (expand()), freed at end */
  uint32_t nxbufs, xbufs_cap;

  ventry_t *stack;
  uint32_t sp, stack_cap, max_height;
  cframe_t *frames;
  uint32_t nframes, frames_cap;

  uint8_t *code;
  size_t len, cap;
  bool oom;
  bool fuel_on, epoch_on;
  int32_t fuel_pos;         /* word holding the current block's fuel, -1 */
  uint32_t fuel_acc;

  /* peephole state */
  uint64_t nemit;           /* ops emitted other than materializations */
  bool in_mat;
  int32_t last_dst_pos;     /* dst word of the last op, or -1 */
  uint64_t last_nemit;
  uint32_t last_dst_height;
  int32_t cmp_pos;          /* start of the last fusable compare, or -1 */
  uint32_t cmp_len, cmp_height;
  uint64_t cmp_nemit;
  int cmp_op;               /* WOP_BR_<cmp> */
  int32_t cmp_a, cmp_b;
  bool cmp_imm;
} cc_t;

static const uint8_t single_types[] = {WH_I32, WH_I64, WH_F32, WH_F64,
                                       WH_FUNCREF, WH_EXTERNREF, WH_V128};

static const uint8_t *single(uint8_t t) {
  for (size_t i = 0; i < sizeof single_types; i++)
    if (single_types[i] == t) return &single_types[i];
  return NULL;
}

static const uint8_t v128_slots[2] = {WH_V128, T_VHI};

/* ---- errors ----------------------------------------------------------- */

static int invalid(cc_t *c, const char *msg) {
  return wh_rd_fail(&c->r, WH_EINVALID, "%s", msg);
}

#define FAILED(c) ((c)->r.failed)

/* The slot types of the `n` value types at `types`: the same list if it
 * has no v128, else a copy with each v128 as WH_V128, T_VHI (owned by
 * c, freed with it).  NULL on OOM (failed). */
static const uint8_t *expand(cc_t *c, const uint8_t *types, uint32_t n,
                             uint32_t *nout) {
  uint32_t nv = 0;
  for (uint32_t i = 0; i < n; i++) nv += types[i] == WH_V128;
  *nout = n + nv;
  if (!nv) return types;
  if (c->nxbufs == c->xbufs_cap) {
    uint32_t cap = c->xbufs_cap ? c->xbufs_cap * 2 : 16;
    void **p = realloc(c->xbufs, cap * sizeof *p);
    if (!p) {
      wh_rd_fail(&c->r, WH_ENOMEM, "out of memory");
      return NULL;
    }
    c->xbufs = p;
    c->xbufs_cap = cap;
  }
  uint8_t *out = malloc(n + nv);
  if (!out) {
    wh_rd_fail(&c->r, WH_ENOMEM, "out of memory");
    return NULL;
  }
  c->xbufs[c->nxbufs++] = out;
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    out[k++] = types[i];
    if (types[i] == WH_V128) out[k++] = T_VHI;
  }
  return out;
}

/* ---- emission ---------------------------------------------------------- */

static bool dead(cc_t *c) { return c->frames[c->nframes - 1].unreachable; }

static bool reserve(cc_t *c, size_t n) {
  if (c->len + n <= c->cap) return true;
  size_t cap = c->cap ? c->cap * 2 : 256;
  while (cap < c->len + n) cap *= 2;
  if (cap > (size_t)INT32_MAX) {
    wh_rd_fail(&c->r, WH_ELIMIT, "function too large to compile");
    return false;
  }
  uint8_t *p = realloc(c->code, cap);
  if (!p) {
    wh_rd_fail(&c->r, WH_ENOMEM, "out of memory");
    return false;
  }
  c->code = p;
  c->cap = cap;
  return true;
}

static int32_t emit_op(cc_t *c, int op) {
  if (!reserve(c, 8)) return -1;
  uint64_t v = (uint64_t)op;
  int32_t at = (int32_t)c->len;
  memcpy(c->code + c->len, &v, 8);
  c->len += 8;
  if (!c->in_mat) c->nemit++;
  c->last_dst_pos = -1;
  return at;
}

static int32_t emit_w(cc_t *c, int32_t w) {
  if (!reserve(c, 4)) return -1;
  int32_t at = (int32_t)c->len;
  memcpy(c->code + c->len, &w, 4);
  c->len += 4;
  return at;
}

static void put_w(cc_t *c, int32_t pos, int32_t w) {
  if (pos >= 0 && (size_t)pos + 4 <= c->len) memcpy(c->code + pos, &w, 4);
}

static int32_t get_w(cc_t *c, int32_t pos) {
  int32_t w = 0;
  if (pos >= 0 && (size_t)pos + 4 <= c->len) memcpy(&w, c->code + pos, 4);
  return w;
}

static int32_t slot_off(cc_t *c, uint32_t height) {
  return (int32_t)((c->nlocals + height) * 8u);
}

static int32_t local_off(uint32_t local) { return (int32_t)(local * 8u); }

/* Marks the op just emitted as writing slot `height` through word `pos`. */
static void note_dst(cc_t *c, int32_t pos, uint32_t height) {
  c->last_dst_pos = pos;
  c->last_nemit = c->nemit;
  c->last_dst_height = height;
}

static void emit_const(cc_t *c, int32_t dst, uint8_t type, uint64_t v) {
  if (type == WH_I64 || type == WH_F64 || type == WH_V128 || type == T_VHI ||
      v > 0xffffffffu) {
    emit_op(c, WOP_CONST64);
    emit_w(c, dst);
    emit_w(c, (int32_t)(uint32_t)v);
    emit_w(c, (int32_t)(uint32_t)(v >> 32));
  } else {
    emit_op(c, WOP_CONST32);
    emit_w(c, dst);
    emit_w(c, (int32_t)(uint32_t)v);
  }
}

static void emit_copy(cc_t *c, int32_t dst, int32_t src) {
  if (dst == src) return;
  emit_op(c, WOP_COPY);
  emit_w(c, dst);
  emit_w(c, src);
}

/* ---- fuel ---------------------------------------------------------------- */

static void fuel_flush(cc_t *c) {
  if (c->fuel_pos >= 0) put_w(c, c->fuel_pos, (int32_t)c->fuel_acc);
  c->fuel_pos = -1;
  c->fuel_acc = 0;
}

/* Starts a basic block: `op` is WOP_ENTRY, WOP_LOOP or WOP_FUEL. */
static void block_begin(cc_t *c, int op) {
  fuel_flush(c);
  /* a label may precede this point: no peephole may reach back across it */
  c->cmp_pos = -1;
  c->last_dst_pos = -1;
  if (dead(c)) return;
  if (op == WOP_FUEL && !c->fuel_on) return;
  if (!c->fuel_on && !c->epoch_on) return;
  emit_op(c, op);
  c->fuel_pos = emit_w(c, 0);
  if (!c->fuel_on) c->fuel_pos = -1;
}

static void fuel_add(cc_t *c, uint32_t n) {
  if (!dead(c)) c->fuel_acc += n;
}

/* ---- the operand stack ------------------------------------------------- */

static bool grow_stack(cc_t *c) {
  if (c->sp < c->stack_cap) return true;
  uint32_t cap = c->stack_cap ? c->stack_cap * 2 : 64;
  if (cap > 1u << 20) {
    wh_rd_fail(&c->r, WH_ELIMIT, "operand stack too deep");
    return false;
  }
  ventry_t *s = realloc(c->stack, cap * sizeof *s);
  if (!s) {
    wh_rd_fail(&c->r, WH_ENOMEM, "out of memory");
    return false;
  }
  c->stack = s;
  c->stack_cap = cap;
  return true;
}

static uint32_t push(cc_t *c, uint8_t type) {
  if (!grow_stack(c)) return 0;
  uint32_t h = c->sp++;
  c->stack[h] = (ventry_t){.type = type, .kind = K_SLOT};
  if (c->sp > c->max_height) c->max_height = c->sp;
  return h;
}

static void push_const(cc_t *c, uint8_t type, uint64_t v) {
  uint32_t h = push(c, type);
  if (FAILED(c)) return;
  c->stack[h].kind = K_CONST;
  c->stack[h].cval = v;
}

/* Pops a value of type `t` (0 = any); returns its height, or UINT32_MAX
 * for a value conjured by a polymorphic (unreachable) stack. */
static uint32_t pop(cc_t *c, uint8_t t, uint8_t *got) {
  cframe_t *f = &c->frames[c->nframes - 1];
  if (c->sp == f->height) {
    if (!f->unreachable) invalid(c, "type mismatch (operand stack empty)");
    if (got) *got = T_UNKNOWN;
    return UINT32_MAX;
  }
  ventry_t *e = &c->stack[--c->sp];
  if (t != T_UNKNOWN && e->type != T_UNKNOWN && e->type != t)
    invalid(c, "type mismatch");
  if (got) *got = e->type;
  return c->sp;
}

static void materialize(cc_t *c, uint32_t h) {
  ventry_t *e = &c->stack[h];
  if (e->kind == K_SLOT) return;
  c->in_mat = true;
  if (e->kind == K_LOCAL) emit_copy(c, slot_off(c, h), local_off(e->local));
  else emit_const(c, slot_off(c, h), e->type, e->cval);
  c->in_mat = false;
  e->kind = K_SLOT;
}

static void materialize_all(cc_t *c) {
  if (dead(c)) return;
  for (uint32_t h = 0; h < c->sp; h++) materialize(c, h);
}

/* The slot offset to read the value at height h from. */
static int32_t operand(cc_t *c, uint32_t h) {
  if (h == UINT32_MAX) return 0;
  ventry_t *e = &c->stack[h];
  if (e->kind == K_LOCAL) return local_off(e->local);
  if (e->kind == K_CONST) materialize(c, h);
  return slot_off(c, h);
}

/* The offset of the v128 whose low half is at height h (its high half at
 * h + 1, in the next slot): a local's two slots, or the stack's. */
static int32_t v_operand(cc_t *c, uint32_t h) {
  if (h == UINT32_MAX) return 0;
  ventry_t *lo = &c->stack[h], *hi = &c->stack[h + 1];
  if (lo->kind == K_LOCAL && hi->kind == K_LOCAL && hi->local == lo->local + 1)
    return local_off(lo->local);
  materialize(c, h);
  materialize(c, h + 1);
  return slot_off(c, h);
}

static bool is_const(cc_t *c, uint32_t h) {
  return h != UINT32_MAX && c->stack[h].kind == K_CONST;
}

/* Checks that the top of the stack holds `types` (n of them) and, in
 * unreachable code, conjures the missing ones; retypes unknowns. */
static void take(cc_t *c, const uint8_t *types, uint32_t n) {
  cframe_t *f = &c->frames[c->nframes - 1];
  uint32_t avail = c->sp - f->height;
  for (uint32_t i = 0; i < n; i++) {
    if (i < avail) {
      uint8_t have = c->stack[c->sp - 1 - i].type;
      if (have != T_UNKNOWN && have != types[n - 1 - i]) {
        invalid(c, "type mismatch");
        return;
      }
    } else if (!f->unreachable) {
      invalid(c, "type mismatch (not enough operands)");
      return;
    }
  }
  if (avail < n) {
    uint32_t missing = n - avail;
    for (uint32_t i = 0; i < missing; i++) push(c, T_UNKNOWN);
    if (FAILED(c)) return;
    memmove(c->stack + f->height + missing, c->stack + f->height,
            avail * sizeof *c->stack);
    for (uint32_t i = 0; i < missing; i++)
      c->stack[f->height + i] = (ventry_t){.type = T_UNKNOWN, .kind = K_SLOT};
  }
  for (uint32_t i = 0; i < n; i++) c->stack[c->sp - n + i].type = types[i];
}

/* Checks the top of the stack against `types`; with `exact`, nothing else
 * may be above the current frame's height. */
static void check_top(cc_t *c, const uint8_t *types, uint32_t n, bool exact) {
  cframe_t *f = &c->frames[c->nframes - 1];
  uint32_t avail = c->sp - f->height;
  if (exact && avail > n) {
    invalid(c, "type mismatch (values remain on the stack)");
    return;
  }
  for (uint32_t i = 0; i < n; i++) {
    if (i < avail) {
      uint8_t have = c->stack[c->sp - 1 - i].type;
      if (have != T_UNKNOWN && have != types[n - 1 - i]) {
        invalid(c, "type mismatch");
        return;
      }
    } else if (!f->unreachable) {
      invalid(c, "type mismatch (not enough operands)");
      return;
    }
  }
}

static void set_unreachable(cc_t *c) {
  cframe_t *f = &c->frames[c->nframes - 1];
  c->sp = f->height;
  f->unreachable = true;
  c->cmp_pos = -1;
}

/* ---- control frames -------------------------------------------------- */

static cframe_t *push_frame(cc_t *c, uint8_t kind, const uint8_t *params,
                            uint32_t np, const uint8_t *results, uint32_t nr) {
  if (c->nframes == c->frames_cap) {
    uint32_t cap = c->frames_cap * 2;
    if (cap > 1u << 20) {
      wh_rd_fail(&c->r, WH_ELIMIT, "blocks nested too deeply");
      return NULL;
    }
    cframe_t *f = realloc(c->frames, cap * sizeof *f);
    if (!f) {
      wh_rd_fail(&c->r, WH_ENOMEM, "out of memory");
      return NULL;
    }
    c->frames = f;
    c->frames_cap = cap;
  }
  /* a block starts with a fresh, non-polymorphic stack even inside dead
   * code (its code is emitted; nothing ever jumps to it) */
  cframe_t *f = &c->frames[c->nframes++];
  *f = (cframe_t){.kind = kind, .unreachable = false,
                  .height = c->sp - np, .nparams = np, .nresults = nr,
                  .params = params, .results = results, .loop_pos = -1,
                  .patch_head = -1, .else_patch = -1};
  return f;
}

static void label_types(cframe_t *f, const uint8_t **types, uint32_t *n) {
  if (f->kind == F_LOOP) {
    *types = f->params;
    *n = f->nparams;
  } else {
    *types = f->results;
    *n = f->nresults;
  }
}

static void patch_list(cc_t *c, int32_t head, int32_t target) {
  while (head >= 0) {
    int32_t next = get_w(c, head);
    put_w(c, head, target - head);
    head = next;
  }
}

/* Emits the rel word of a branch to frame `f` (patched later if forward). */
static void emit_rel(cc_t *c, cframe_t *f) {
  if (f->kind == F_LOOP) {
    int32_t at = (int32_t)c->len;
    emit_w(c, f->loop_pos - at);
  } else {
    int32_t at = emit_w(c, f->patch_head);
    if (at >= 0) f->patch_head = at;
  }
}

/* Copies the top `n` values into the slots a branch to `f` expects. */
static void emit_branch_copies(cc_t *c, cframe_t *f, uint32_t n) {
  uint32_t src = c->sp - n;
  if (src == f->height) return;
  for (uint32_t i = 0; i < n; i++)
    emit_copy(c, slot_off(c, f->height + i), operand(c, src + i));
}

/* Writes the top `n` values into fp[0..n) and returns. */
static void emit_return(cc_t *c) {
  uint32_t n = c->nres;
  uint32_t src = c->sp - n;
  if (n == 1 && c->stack[src].kind == K_SLOT && c->last_dst_pos >= 0 &&
      c->last_nemit == c->nemit && c->last_dst_height == src) {
    /* the op just emitted computed the result: let it write fp[0] */
    put_w(c, c->last_dst_pos, 0);
    emit_op(c, WOP_RETURN);
    return;
  }
  if (n == 1 && c->stack[src].kind == K_LOCAL) {
    emit_copy(c, 0, local_off(c->stack[src].local));
  } else if (n == 1 && c->stack[src].kind == K_CONST) {
    emit_const(c, 0, c->stack[src].type, c->stack[src].cval);
  } else {
    /* results may overlap params/locals: stage them in their own slots,
     * then copy down (dst < src, so ascending order is safe) */
    for (uint32_t i = 0; i < n; i++) materialize(c, src + i);
    for (uint32_t i = 0; i < n; i++)
      emit_copy(c, (int32_t)(i * 8), slot_off(c, src + i));
  }
  emit_op(c, WOP_RETURN);
}

/* Reads a block type: 0x40, a value type, or a type index (s33). */
static void read_blocktype(cc_t *c, const uint8_t **params, uint32_t *np,
                           const uint8_t **results, uint32_t *nr) {
  *params = *results = NULL;
  *np = *nr = 0;
  if (wh_rd_eof(&c->r)) {
    wh_rd_fail(&c->r, WH_EMALFORMED, "unexpected end");
    return;
  }
  uint8_t b = *c->r.p;
  if (b == 0x40) {
    c->r.p++;
    return;
  }
  if (b == WH_V128 && !c->e->cfg.simd) {
    wh_rd_fail(&c->r, WH_EUNSUPPORTED, SIMD_OFF);
    return;
  }
  if (b == WH_V128) {
    c->r.p++;
    *results = v128_slots;
    *nr = 2;
    return;
  }
  if (single(b)) {
    c->r.p++;
    *results = single(b);
    *nr = 1;
    return;
  }
  int64_t idx = wh_rd_sleb(&c->r, 33);
  if (FAILED(c)) return;
  if (idx < 0) {
    wh_rd_fail(&c->r, WH_EMALFORMED, "malformed block type");
    return;
  }
  if ((uint64_t)idx >= c->m->ntypes) {
    invalid(c, "unknown type");
    return;
  }
  const wh_functype_t *ft = c->m->types[idx];
  *params = expand(c, ft->types, ft->nparams, np);
  *results = expand(c, ft->types + ft->nparams, ft->nresults, nr);
}

/* ---- fused compare-and-branch ---------------------------------------- */

static const int fused_of[WOP__COUNT] = {
#define WH__F(name, ct, cop, neg) [WOP_##name] = WOP_BR_##name,
    WH_FUSED_CMPS(WH__F)
#undef WH__F
};
static const int fused_neg[WOP__COUNT] = {
#define WH__F(name, ct, cop, neg) [WOP_BR_##name] = WOP_BR_##neg,
    WH_FUSED_CMPS(WH__F)
#undef WH__F
};

/* If the condition (popped, at height h) was computed by the compare just
 * emitted (only materializations since), removes that compare and returns
 * the fused branch op (negated if `negate`); else -1.  Pops nothing. */
static int take_fused(cc_t *c, uint32_t h, bool negate, int32_t *a,
                      int32_t *b, bool *imm) {
  if (c->cmp_pos < 0 || c->cmp_nemit != c->nemit) return -1;
  if (h == UINT32_MAX || c->stack[h].kind != K_SLOT || c->cmp_height != h)
    return -1;
  size_t tail = c->len - ((size_t)c->cmp_pos + c->cmp_len);
  memmove(c->code + c->cmp_pos, c->code + c->cmp_pos + c->cmp_len, tail);
  c->len -= c->cmp_len;
  int op = c->cmp_op;
  *a = c->cmp_a;
  *b = c->cmp_b;
  *imm = c->cmp_imm;
  c->cmp_pos = -1;
  if (negate) op = fused_neg[op];
  return *imm ? op + 1 : op;
}

/* Emits "if (cond) goto <rel>" (negate: if !cond), the condition being the
 * value popped at height `h`; returns the position of the rel word.  The
 * caller then emits the rel word itself. */
static void emit_cond_branch(cc_t *c, uint32_t h, bool negate, bool fused_ok) {
  int32_t a, b;
  bool imm;
  int op = fused_ok ? take_fused(c, h, negate, &a, &b, &imm) : -1;
  if (op >= 0) {
    emit_op(c, op);
    emit_w(c, a);
    emit_w(c, b);
    return;
  }
  int32_t cond = operand(c, h);
  emit_op(c, negate ? WOP_BR_UNLESS : WOP_BR_IF);
  emit_w(c, cond);
}

/* ---- operators ------------------------------------------------------- */

static const struct binop_info {
  uint16_t wasm;
  uint8_t tin, tout;
  uint16_t op;
} binops[] = {
#define WH__B(name, opc, ti, to, imm, expr) {opc, WH_##ti##_T, WH_##to##_T, WOP_##name},
#define WH_i32_T WH_I32
#define WH_i64_T WH_I64
#define WH_f32_T WH_F32
#define WH_f64_T WH_F64
    WH_BINOPS(WH__B) WH_BINOPS_TRAPPING(WH__B)
#undef WH__B
};

static const struct unop_info {
  uint16_t wasm;
  uint8_t tin, tout;
  uint16_t op;
} unops[] = {
#define WH__U(name, opc, ti, to, expr) {opc, WH_##ti##_T, WH_##to##_T, WOP_##name},
    WH_UNOPS(WH__U)
#undef WH__U
};

static const struct mem_info {
  uint8_t wasm, type, bytes, align;
  uint16_t op, op_m;      /* on memory 0; on another memory */
} loads[] = {
#define WH__M(name, opc, t, n, ct, al) {opc, WH_##t##_T, n, al, WOP_##name, WOP_##name##_M},
    WH_LOADS(WH__M)
}, stores[] = {
    WH_STORES(WH__M)
#undef WH__M
};

static int16_t binop_index[0x100], unop_index[0x100], unop_fc_index[0x10];
static int8_t load_index[0x40], store_index[0x40];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void init_tables(void) {
  memset(binop_index, -1, sizeof binop_index);
  memset(unop_index, -1, sizeof unop_index);
  memset(unop_fc_index, -1, sizeof unop_fc_index);
  memset(load_index, -1, sizeof load_index);
  memset(store_index, -1, sizeof store_index);
  for (size_t i = 0; i < sizeof binops / sizeof *binops; i++)
    binop_index[binops[i].wasm] = (int16_t)i;
  for (size_t i = 0; i < sizeof unops / sizeof *unops; i++) {
    if (unops[i].wasm >= 0xfc00) unop_fc_index[unops[i].wasm & 0xf] = (int16_t)i;
    else unop_index[unops[i].wasm] = (int16_t)i;
  }
  for (size_t i = 0; i < sizeof loads / sizeof *loads; i++)
    load_index[loads[i].wasm] = (int8_t)i;
  for (size_t i = 0; i < sizeof stores / sizeof *stores; i++)
    store_index[stores[i].wasm] = (int8_t)i;
}

static bool is_fusable_cmp(int op) {
  return op >= WOP_I32_EQ && op <= WOP_I64_GE_U && fused_of[op] != 0;
}

static void do_binop(cc_t *c, const struct binop_info *bi) {
  uint32_t hb = pop(c, bi->tin, NULL);
  uint32_t ha = pop(c, bi->tin, NULL);
  if (FAILED(c)) return;
  uint32_t hd = c->sp;
  if (!dead(c)) {
    bool imm = false;
    uint32_t k = 0;
    if (is_const(c, hb) && bi->tin != WH_F64) {
      uint64_t v = c->stack[hb].cval;
      if (bi->tin != WH_I64 || (int64_t)v == (int64_t)(int32_t)v) {
        imm = true;
        k = (uint32_t)v;
      }
    }
    int32_t a = operand(c, ha);
    int32_t b = imm ? (int32_t)k : operand(c, hb);
    int32_t at = emit_op(c, bi->op + (imm ? 1 : 0));
    int32_t dpos = emit_w(c, slot_off(c, hd));
    emit_w(c, a);
    emit_w(c, b);
    note_dst(c, dpos, hd);
    if (is_fusable_cmp(bi->op)) {
      c->cmp_pos = at;
      c->cmp_len = 20;
      c->cmp_height = hd;
      c->cmp_nemit = c->nemit;
      c->cmp_op = fused_of[bi->op];
      c->cmp_a = a;
      c->cmp_b = b;
      c->cmp_imm = imm;
    }
  }
  push(c, bi->tout);
}

static void do_unop(cc_t *c, const struct unop_info *ui) {
  uint32_t ha = pop(c, ui->tin, NULL);
  if (FAILED(c)) return;
  uint32_t hd = c->sp;
  if (!dead(c)) {
    if (ui->op == WOP_I32_EQZ && ha != UINT32_MAX) {
      /* i32.eqz a  ==  i32.eq a 0: lets br_if/if fuse it */
      int32_t a = operand(c, ha);
      int32_t at = emit_op(c, WOP_I32_EQ_IMM);
      int32_t dpos = emit_w(c, slot_off(c, hd));
      emit_w(c, a);
      emit_w(c, 0);
      note_dst(c, dpos, hd);
      c->cmp_pos = at;
      c->cmp_len = 20;
      c->cmp_height = hd;
      c->cmp_nemit = c->nemit;
      c->cmp_op = WOP_BR_I32_EQ;
      c->cmp_a = a;
      c->cmp_b = 0;
      c->cmp_imm = true;
    } else {
      int32_t a = operand(c, ha);
      emit_op(c, ui->op);
      int32_t dpos = emit_w(c, slot_off(c, hd));
      emit_w(c, a);
      note_dst(c, dpos, hd);
    }
  }
  push(c, ui->tout);
}

static void check_memidx(cc_t *c, uint32_t x) {
  if (!FAILED(c) && x >= c->m->nmems)
    wh_rd_fail(&c->r, WH_EINVALID, "unknown memory %u", x);
}

/* A memarg: alignment flags, a memory index if the flags' bit 6 is set
 * (multi-memory), the offset.  Returns the memory index. */
static uint32_t read_memarg(cc_t *c, uint8_t natural, uint32_t *offset) {
  uint32_t flags = wh_rd_u32(&c->r);
  uint32_t mem = 0;
  if (!FAILED(c) && flags >= 0x80) {
    wh_rd_fail(&c->r, WH_EMALFORMED, "malformed memop flags");
    return 0;
  }
  if (flags & 0x40) mem = wh_rd_u32(&c->r);
  *offset = wh_rd_u32(&c->r);
  if (FAILED(c)) return 0;
  check_memidx(c, mem);
  if (!FAILED(c) && (flags & 0x3f) > natural)
    invalid(c, "alignment must not be larger than natural");
  return mem;
}

/* The memory index of memory.size/grow/fill/copy/init (a zero byte
 * before multi-memory, a u32 since). */
static uint32_t read_memidx(cc_t *c) {
  uint32_t x = wh_rd_u32(&c->r);
  check_memidx(c, x);
  return x;
}

static uint32_t read_table(cc_t *c) {
  uint32_t t = wh_rd_u32(&c->r);
  if (!FAILED(c) && t >= c->m->ntables) invalid(c, "unknown table");
  return t;
}

/* ---- SIMD ------------------------------------------------------------
 *
 * Every 0xfd instruction is validated from simd.h's table (immediates:
 * memarg alignment, lane indices, shuffle lanes; operand types) and
 * translated to its V_<NAME> op (wcode.h), v128 operands as slot pairs.
 * A v128.const stays virtual, as two constant halves. */

static const struct simd_info {
  uint8_t present, form, type, n;
} simd_ops[WH_SIMD_SUBOPS] = {
#define WH__S(name, sub, form, t, n) \
  [sub] = {1, WH_SIMD_##form, WH_##t##_T, n},
    WH_SIMD_OPS(WH__S)
#undef WH__S
};

/* A v128 on the compile-time stack is two entries (see the top). */
static uint32_t pop_v128(cc_t *c) {
  pop(c, T_VHI, NULL);
  return pop(c, WH_V128, NULL);
}

static void push_v128(cc_t *c) {
  push(c, WH_V128);
  push(c, T_VHI);
}

/* Reads a lane index immediate; it must be below `lanes`. */
static uint8_t read_lane(cc_t *c, uint32_t lanes) {
  uint8_t lane = wh_rd_u8(&c->r);
  if (!FAILED(c) && lane >= lanes) invalid(c, "invalid lane index");
  return lane;
}

static void compile_simd(cc_t *c) {
  wh_reader_t *r = &c->r;
  uint32_t sub = wh_rd_u32(r);
  if (FAILED(c)) return;
  if (!c->e->cfg.simd) {
    wh_rd_fail(r, WH_EUNSUPPORTED, SIMD_OFF);
    return;
  }
  if (sub >= WH_SIMD_SUBOPS || !simd_ops[sub].present) {
    wh_rd_fail(r, WH_EMALFORMED, "illegal opcode 0xfd %u", sub);
    return;
  }
  static const uint16_t wop[WH_SIMD_SUBOPS] = {
#define WH__S(name, sub, form, t, n) [sub] = WOP_V_##name,
      WH_SIMD_OPS(WH__S)
#undef WH__S
  };
  const struct simd_info *si = &simd_ops[sub];
  uint32_t off = 0, mem = 0;
  uint8_t lane = 0, lanes[16] = {0};
  uint32_t ha = UINT32_MAX, hb = UINT32_MAX, hc = UINT32_MAX;
  fuel_add(c, 1);
  /* immediates, then operands (popped last first) */
  switch (si->form) {
  case WH_SIMD_LOAD:
    mem = read_memarg(c, si->n, &off);
    ha = pop(c, WH_I32, NULL);
    break;
  case WH_SIMD_STORE:
    mem = read_memarg(c, si->n, &off);
    hb = pop_v128(c);
    ha = pop(c, WH_I32, NULL);
    break;
  case WH_SIMD_LLANE: case WH_SIMD_SLANE:
    mem = read_memarg(c, si->n, &off);
    lane = read_lane(c, 16u >> si->n);
    hb = pop_v128(c);
    ha = pop(c, WH_I32, NULL);
    break;
  case WH_SIMD_CONST: {
    uint64_t lo = wh_rd_fixed64(r), hi = wh_rd_fixed64(r);
    if (FAILED(c)) return;
    push_const(c, WH_V128, lo);
    push_const(c, T_VHI, hi);
    c->cmp_pos = -1;
    c->last_dst_pos = -1;
    return;
  }
  case WH_SIMD_SHUF:
    for (int i = 0; i < 16 && !FAILED(c); i++) lanes[i] = read_lane(c, si->n);
    hb = pop_v128(c);
    ha = pop_v128(c);
    break;
  case WH_SIMD_SPLAT:
    ha = pop(c, si->type, NULL);
    break;
  case WH_SIMD_EXTRACT:
    lane = read_lane(c, si->n);
    ha = pop_v128(c);
    break;
  case WH_SIMD_REPLACE:
    lane = read_lane(c, si->n);
    hb = pop(c, si->type, NULL);
    ha = pop_v128(c);
    break;
  case WH_SIMD_UN: case WH_SIMD_TEST:
    ha = pop_v128(c);
    break;
  case WH_SIMD_BIN:
    hb = pop_v128(c);
    ha = pop_v128(c);
    break;
  case WH_SIMD_TERN:
    hc = pop_v128(c);
    hb = pop_v128(c);
    ha = pop_v128(c);
    break;
  case WH_SIMD_SHIFT:
    hb = pop(c, WH_I32, NULL);
    ha = pop_v128(c);
    break;
  }
  if (FAILED(c)) return;
  uint32_t hd = c->sp;
  bool v_a = si->form != WH_SIMD_LOAD && si->form != WH_SIMD_STORE &&
             si->form != WH_SIMD_LLANE && si->form != WH_SIMD_SLANE &&
             si->form != WH_SIMD_SPLAT;
  bool v_b = si->form == WH_SIMD_STORE || si->form == WH_SIMD_LLANE ||
             si->form == WH_SIMD_SLANE || si->form == WH_SIMD_SHUF ||
             si->form == WH_SIMD_BIN || si->form == WH_SIMD_TERN;
  if (!dead(c)) {
    int32_t a = ha == UINT32_MAX ? 0 : v_a ? v_operand(c, ha) : operand(c, ha);
    int32_t b = hb == UINT32_MAX ? 0 : v_b ? v_operand(c, hb) : operand(c, hb);
    int32_t cc = hc == UINT32_MAX ? 0 : v_operand(c, hc);
    int32_t d = slot_off(c, hd);
    emit_op(c, wop[sub]);
    switch (si->form) {
    case WH_SIMD_LOAD:
      emit_w(c, d); emit_w(c, a); emit_w(c, (int32_t)off); emit_w(c, (int32_t)mem);
      break;
    case WH_SIMD_STORE:
      emit_w(c, a); emit_w(c, b); emit_w(c, (int32_t)off); emit_w(c, (int32_t)mem);
      break;
    case WH_SIMD_LLANE:
      emit_w(c, d); emit_w(c, a); emit_w(c, b); emit_w(c, (int32_t)off);
      emit_w(c, (int32_t)mem); emit_w(c, lane);
      break;
    case WH_SIMD_SLANE:
      emit_w(c, a); emit_w(c, b); emit_w(c, (int32_t)off); emit_w(c, (int32_t)mem);
      emit_w(c, lane);
      break;
    case WH_SIMD_SHUF:
      emit_w(c, d); emit_w(c, a); emit_w(c, b);
      for (int i = 0; i < 16; i += 4) {
        uint32_t w = (uint32_t)lanes[i] | (uint32_t)lanes[i + 1] << 8 |
                     (uint32_t)lanes[i + 2] << 16 | (uint32_t)lanes[i + 3] << 24;
        emit_w(c, (int32_t)w);
      }
      break;
    case WH_SIMD_EXTRACT:
      emit_w(c, d); emit_w(c, a); emit_w(c, lane);
      break;
    case WH_SIMD_REPLACE:
      emit_w(c, d); emit_w(c, a); emit_w(c, b); emit_w(c, lane);
      break;
    case WH_SIMD_TERN:
      emit_w(c, d); emit_w(c, a); emit_w(c, b); emit_w(c, cc);
      break;
    case WH_SIMD_BIN: case WH_SIMD_SHIFT:
      emit_w(c, d); emit_w(c, a); emit_w(c, b);
      break;
    default: /* SPLAT, UN, TEST */
      emit_w(c, d); emit_w(c, a);
      break;
    }
  }
  switch (si->form) {
  case WH_SIMD_STORE: case WH_SIMD_SLANE: break;
  case WH_SIMD_EXTRACT: push(c, si->type); break;
  case WH_SIMD_TEST: push(c, WH_I32); break;
  default: push_v128(c); break;
  }
  /* no peephole pairs across a SIMD op */
  c->cmp_pos = -1;
  c->last_dst_pos = -1;
}

static void do_call(cc_t *c, const wh_functype_t *ft, int op, uint32_t a0,
                    uint32_t a1, uint32_t hidx) {
  uint32_t np, nr;
  const uint8_t *pt = expand(c, ft->types, ft->nparams, &np);
  const uint8_t *rt = expand(c, ft->types + ft->nparams, ft->nresults, &nr);
  if (FAILED(c)) return;
  for (uint32_t i = np; i-- > 0;) pop(c, pt[i], NULL);
  if (FAILED(c)) return;
  uint32_t base = c->sp;
  if (!dead(c)) {
    for (uint32_t i = 0; i < np; i++) materialize(c, base + i);
    int32_t idx = op == WOP_CALL_INDIRECT ? operand(c, hidx) : 0;
    emit_op(c, op);
    emit_w(c, (int32_t)a0);
    if (op == WOP_CALL_INDIRECT) {
      emit_w(c, (int32_t)a1);
      emit_w(c, idx);
    }
    emit_w(c, slot_off(c, base));
  }
  for (uint32_t i = 0; i < nr; i++) push(c, rt[i]);
  /* the callee's frame starts at `base`; make sure its results fit */
  if (base + np > c->max_height) c->max_height = base + np;
}

/* local.set / local.tee of local slot x (one half of a v128 local) */
static void set_local_slot(cc_t *c, uint32_t x, bool tee) {
  uint8_t t = c->local_types[x];
  uint32_t h = pop(c, t, NULL);
  if (FAILED(c)) return;
  if (!dead(c) && h != UINT32_MAX) {
    bool referenced = false;
    for (uint32_t i = 0; i < c->sp; i++)
      if (c->stack[i].kind == K_LOCAL && c->stack[i].local == x) referenced = true;
    ventry_t *e = &c->stack[h];
    if (!referenced && e->kind == K_SLOT && c->last_dst_pos >= 0 &&
        c->last_nemit == c->nemit && c->last_dst_height == h) {
      put_w(c, c->last_dst_pos, local_off(x));   /* retarget the producer */
      c->last_dst_pos = -1;
      c->cmp_pos = -1;
    } else {
      if (referenced)
        for (uint32_t i = 0; i < c->sp; i++)
          if (c->stack[i].kind == K_LOCAL && c->stack[i].local == x)
            materialize(c, i);
      if (e->kind == K_CONST) emit_const(c, local_off(x), t, e->cval);
      else emit_copy(c, local_off(x), e->kind == K_LOCAL ? local_off(e->local)
                                                         : slot_off(c, h));
    }
  }
  if (tee) {
    uint32_t hn = push(c, t);
    if (!FAILED(c) && !dead(c)) {
      c->stack[hn].kind = K_LOCAL;
      c->stack[hn].local = x;
    }
  }
}

/* local.get of local slot x */
static void get_local_slot(cc_t *c, uint32_t x) {
  uint32_t h = push(c, c->local_types[x]);
  if (!FAILED(c)) {
    c->stack[h].kind = K_LOCAL;
    c->stack[h].local = x;
  }
}

/* local.set / local.tee of wasm local x: a v128 sets its high slot, then
 * its low one (both materialize whatever still reads them first). */
static void do_local_set(cc_t *c, uint32_t x, bool tee) {
  uint32_t sl = c->local_slot[x];
  if (c->local_types[sl] != WH_V128) {
    set_local_slot(c, sl, tee);
    return;
  }
  set_local_slot(c, sl + 1, false);
  set_local_slot(c, sl, false);
  if (tee && !FAILED(c)) {
    get_local_slot(c, sl);
    get_local_slot(c, sl + 1);
  }
}

/* select of two v128 (typed, or untyped with a v128 on top): one SELECT
 * per half.  The condition at hc is already popped. */
static void select_v128(cc_t *c, uint32_t hc) {
  pop(c, T_VHI, NULL);
  uint32_t h2 = pop(c, WH_V128, NULL);
  pop(c, T_VHI, NULL);
  uint32_t h1 = pop(c, WH_V128, NULL);
  if (FAILED(c)) return;
  uint32_t hd = c->sp;
  if (!dead(c)) {
    int32_t a = v_operand(c, h1), b = v_operand(c, h2), cd = operand(c, hc);
    for (int half = 0; half < 2; half++) {
      emit_op(c, WOP_SELECT);
      emit_w(c, slot_off(c, hd) + 8 * half);
      emit_w(c, a + 8 * half);
      emit_w(c, b + 8 * half);
      emit_w(c, cd);
    }
  }
  push(c, WH_V128);
  push(c, T_VHI);
}

/* ---- the function body ------------------------------------------------ */

static void compile_body(cc_t *c) {
  wh_reader_t *r = &c->r;
  wh_module_t *m = c->m;

  block_begin(c, WOP_ENTRY);
  while (!FAILED(c)) {
    if (wh_rd_eof(r)) {
      wh_rd_fail(r, WH_EMALFORMED, c->nframes ? "unexpected end of section or function"
                                              : "section size mismatch");
      return;
    }
    if (c->nframes == 0) {
      wh_rd_fail(r, WH_EMALFORMED, "section size mismatch (operators after the final end)");
      return;
    }
    uint8_t opc = wh_rd_u8(r);
    cframe_t *f = &c->frames[c->nframes - 1];
    switch (opc) {
    case 0x00: /* unreachable */
      if (!dead(c)) emit_op(c, WOP_UNREACHABLE);
      set_unreachable(c);
      break;
    case 0x01: /* nop */
      break;
    case 0x02: case 0x03: { /* block, loop */
      const uint8_t *p, *rs;
      uint32_t np, nr;
      read_blocktype(c, &p, &np, &rs, &nr);
      if (FAILED(c)) return;
      take(c, p, np);
      if (FAILED(c)) return;
      materialize_all(c);
      cframe_t *nf = push_frame(c, opc == 0x02 ? F_BLOCK : F_LOOP, p, np, rs, nr);
      if (!nf) return;
      if (opc == 0x03) {
        fuel_flush(c);
        c->cmp_pos = -1;
        c->last_dst_pos = -1;
        if (!dead(c)) {
          nf->loop_pos = (int32_t)c->len;
          if (c->fuel_on || c->epoch_on) {
            emit_op(c, WOP_LOOP);
            c->fuel_pos = emit_w(c, 0);
            if (!c->fuel_on) c->fuel_pos = -1;
          }
        }
      }
      break;
    }
    case 0x04: { /* if */
      const uint8_t *p, *rs;
      uint32_t np, nr;
      read_blocktype(c, &p, &np, &rs, &nr);
      if (FAILED(c)) return;
      uint32_t hc = pop(c, WH_I32, NULL);
      take(c, p, np);
      if (FAILED(c)) return;
      fuel_add(c, 1);
      int32_t else_at = -1;
      if (!dead(c)) {
        /* push the condition back so materialization leaves it alone */
        materialize_all(c);
        emit_cond_branch(c, hc, true, true);
        else_at = emit_w(c, -1);
      }
      cframe_t *nf = push_frame(c, F_IF, p, np, rs, nr);
      if (!nf) return;
      nf->else_patch = else_at;
      block_begin(c, WOP_FUEL);
      break;
    }
    case 0x05: { /* else */
      if (f->kind != F_IF) {
        invalid(c, "else without if");
        return;
      }
      check_top(c, f->results, f->nresults, true);
      if (FAILED(c)) return;
      if (!f->unreachable) {
        materialize_all(c);
        emit_op(c, WOP_BR);
        emit_rel(c, f);
      }
      fuel_flush(c);
      if (f->else_patch >= 0) put_w(c, f->else_patch, (int32_t)c->len - f->else_patch);
      f->else_patch = -1;
      f->kind = F_ELSE;
      c->sp = f->height;
      /* the params are back in their slots */
      f->unreachable = false;
      for (uint32_t i = 0; i < f->nparams; i++) push(c, f->params[i]);
      block_begin(c, WOP_FUEL);
      break;
    }
    case 0x0b: { /* end */
      check_top(c, f->results, f->nresults, true);
      if (FAILED(c)) return;
      if (f->kind == F_IF) {
        /* an if without else passes its params through */
        if (f->nparams != f->nresults ||
            (f->nparams && memcmp(f->params, f->results, f->nparams))) {
          invalid(c, "type mismatch (if without else must not change the stack type)");
          return;
        }
      }
      if (f->kind == F_FUNC) {
        if (!f->unreachable) {
          take(c, f->results, f->nresults);
          emit_return(c);
        } else {
          /* never executed, but a live block inside dead code may branch
           * here: the code must not end without a terminator */
          emit_op(c, WOP_UNREACHABLE);
        }
        fuel_flush(c);
        c->nframes--;
        return;
      }
      if (!f->unreachable) {
        take(c, f->results, f->nresults);
        materialize_all(c);
      }
      fuel_flush(c);
      int32_t here = (int32_t)c->len;
      if (f->else_patch >= 0) put_w(c, f->else_patch, here - f->else_patch);
      patch_list(c, f->patch_head, here);
      uint32_t height = f->height;
      const uint8_t *rs = f->results;
      uint32_t nr = f->nresults;
      c->nframes--;
      c->sp = height;
      for (uint32_t i = 0; i < nr; i++) push(c, rs[i]);
      block_begin(c, WOP_FUEL);
      break;
    }
    case 0x0c: case 0x0d: { /* br, br_if */
      uint32_t l = wh_rd_u32(r);
      if (FAILED(c)) return;
      if (l >= c->nframes) {
        invalid(c, "unknown label");
        return;
      }
      uint32_t hc = UINT32_MAX;
      if (opc == 0x0d) hc = pop(c, WH_I32, NULL);
      cframe_t *t = &c->frames[c->nframes - 1 - l];
      const uint8_t *lt;
      uint32_t n;
      label_types(t, &lt, &n);
      fuel_add(c, 1);
      if (opc == 0x0c) {
        check_top(c, lt, n, false);
        if (FAILED(c)) return;
        if (!dead(c)) {
          if (l == c->nframes - 1) {
            emit_return(c);
          } else {
            materialize_all(c);
            emit_branch_copies(c, t, n);
            emit_op(c, WOP_BR);
            emit_rel(c, t);
          }
        }
        set_unreachable(c);
        break;
      }
      take(c, lt, n);
      if (FAILED(c)) return;
      if (!dead(c)) {
        materialize_all(c);
        bool is_ret = l == c->nframes - 1;
        bool copies = is_ret || (n && c->sp - n != t->height);
        if (!copies) {
          emit_cond_branch(c, hc, false, true);
          emit_rel(c, t);
        } else {
          emit_cond_branch(c, hc, true, true);
          int32_t skip = emit_w(c, -1);
          if (is_ret) {
            emit_return(c);
          } else {
            emit_branch_copies(c, t, n);
            emit_op(c, WOP_BR);
            emit_rel(c, t);
          }
          put_w(c, skip, (int32_t)c->len - skip);
        }
      }
      block_begin(c, WOP_FUEL);
      break;
    }
    case 0x0e: { /* br_table */
      uint32_t n = wh_rd_u32(r);
      if (FAILED(c)) return;
      if (n > WH_MAX_BR_TABLE || n > (uint32_t)(r->end - r->p)) {
        wh_rd_fail(r, WH_EMALFORMED, "br_table too large or truncated");
        return;
      }
      uint32_t *labels = malloc(((size_t)n + 1) * sizeof *labels);
      if (!labels) {
        wh_rd_fail(r, WH_ENOMEM, "out of memory");
        return;
      }
      for (uint32_t i = 0; i <= n && !FAILED(c); i++) {
        labels[i] = wh_rd_u32(r);
        if (!FAILED(c) && labels[i] >= c->nframes) invalid(c, "unknown label");
      }
      uint32_t hi = FAILED(c) ? 0 : pop(c, WH_I32, NULL);
      const uint8_t *dt = NULL;
      uint32_t arity = 0;
      if (!FAILED(c)) label_types(&c->frames[c->nframes - 1 - labels[n]], &dt, &arity);
      for (uint32_t i = 0; i <= n && !FAILED(c); i++) {
        const uint8_t *lt;
        uint32_t ln;
        label_types(&c->frames[c->nframes - 1 - labels[i]], &lt, &ln);
        if (ln != arity) {
          invalid(c, "type mismatch (br_table labels differ in arity)");
          break;
        }
        check_top(c, lt, ln, false);
      }
      fuel_add(c, 1);
      if (!FAILED(c) && !dead(c)) {
        materialize_all(c);
        int32_t idx = operand(c, hi);
        emit_op(c, WOP_BR_TABLE);
        emit_w(c, idx);
        emit_w(c, (int32_t)n);
        int32_t first = (int32_t)c->len;
        for (uint32_t i = 0; i <= n; i++) emit_w(c, 0);
        /* each target: direct, or through a trampoline that copies */
        for (uint32_t i = 0; i <= n && !FAILED(c); i++) {
          uint32_t l = labels[i];
          cframe_t *t = &c->frames[c->nframes - 1 - l];
          int32_t pos = first + 4 * (int32_t)i;
          bool is_ret = l == c->nframes - 1;
          bool copies = is_ret || (arity && c->sp - arity != t->height);
          if (!copies && t->kind == F_LOOP) {
            put_w(c, pos, t->loop_pos - pos);
          } else if (!copies) {
            put_w(c, pos, t->patch_head);
            t->patch_head = pos;
          } else {
            put_w(c, pos, (int32_t)c->len - pos);
            if (is_ret) {
              emit_return(c);
            } else {
              emit_branch_copies(c, t, arity);
              emit_op(c, WOP_BR);
              emit_rel(c, t);
            }
          }
        }
      }
      free(labels);
      if (FAILED(c)) return;
      set_unreachable(c);
      break;
    }
    case 0x0f: /* return */
      check_top(c, c->res, c->nres, false);
      if (FAILED(c)) return;
      if (!dead(c)) emit_return(c);
      set_unreachable(c);
      break;
    case 0x10: { /* call */
      uint32_t fi = wh_rd_u32(r);
      if (FAILED(c)) return;
      if (fi >= m->nfuncs) {
        invalid(c, "unknown function");
        return;
      }
      fuel_add(c, 1);
      const wh_functype_t *ft = m->types[m->func_types[fi]];
      if (fi < m->nfunc_imports) do_call(c, ft, WOP_CALL_IMPORT, fi, 0, 0);
      else do_call(c, ft, WOP_CALL, fi - m->nfunc_imports, 0, 0);
      break;
    }
    case 0x11: { /* call_indirect */
      uint32_t ti = wh_rd_u32(r);
      uint32_t tab = wh_rd_u32(r);
      if (FAILED(c)) return;
      if (tab >= m->ntables) {
        invalid(c, "unknown table");
        return;
      }
      if (ti >= m->ntypes) {
        invalid(c, "unknown type");
        return;
      }
      if (m->tables[tab].elem != WH_FUNCREF) {
        invalid(c, "type mismatch (call_indirect on a table of externref)");
        return;
      }
      fuel_add(c, 1);
      uint32_t hidx = pop(c, WH_I32, NULL);
      if (FAILED(c)) return;
      do_call(c, m->types[ti], WOP_CALL_INDIRECT, ti, tab, hidx);
      break;
    }
    case 0x1a: { /* drop */
      uint8_t t;
      pop(c, T_UNKNOWN, &t);
      if (t == T_VHI) pop(c, WH_V128, NULL);
      c->cmp_pos = -1;
      break;
    }
    case 0x1b: case 0x1c: { /* select, select t */
      uint8_t want = T_UNKNOWN;
      if (opc == 0x1c) {
        uint32_t n = wh_rd_u32(r);
        if (FAILED(c)) return;
        if (n != 1) {
          invalid(c, "invalid result arity");
          return;
        }
        uint8_t b = wh_rd_u8(r);
        if (FAILED(c)) return;
        if (b == WH_V128 && !c->e->cfg.simd) {
          wh_rd_fail(r, WH_EUNSUPPORTED, SIMD_OFF);
          return;
        }
        if (!single(b)) {
          wh_rd_fail(r, WH_EMALFORMED, "malformed value type");
          return;
        }
        want = b;
      }
      fuel_add(c, 1);
      uint32_t hc = pop(c, WH_I32, NULL);
      if (FAILED(c)) return;
      if (want == WH_V128 || (want == T_UNKNOWN && c->sp > f->height &&
                              c->stack[c->sp - 1].type == T_VHI)) {
        select_v128(c, hc);
        break;
      }
      uint8_t t2, t1;
      uint32_t h2 = pop(c, want, &t2);
      uint32_t h1 = pop(c, want, &t1);
      if (FAILED(c)) return;
      uint8_t t = want;
      if (opc == 0x1b) {
        bool ref1 = t1 == WH_FUNCREF || t1 == WH_EXTERNREF;
        bool ref2 = t2 == WH_FUNCREF || t2 == WH_EXTERNREF;
        if (ref1 || ref2) {
          invalid(c, "type mismatch (select without type on references)");
          return;
        }
        if (t1 != T_UNKNOWN && t2 != T_UNKNOWN && t1 != t2) {
          invalid(c, "type mismatch");
          return;
        }
        t = t1 != T_UNKNOWN ? t1 : t2;
      }
      uint32_t hd = c->sp;
      if (!dead(c)) {
        int32_t a = operand(c, h1), b = operand(c, h2), cd = operand(c, hc);
        emit_op(c, WOP_SELECT);
        int32_t dpos = emit_w(c, slot_off(c, hd));
        emit_w(c, a);
        emit_w(c, b);
        emit_w(c, cd);
        note_dst(c, dpos, hd);
      }
      push(c, t);
      break;
    }
    case 0x20: { /* local.get */
      uint32_t x = wh_rd_u32(r);
      if (FAILED(c)) return;
      if (x >= c->nwlocals) {
        invalid(c, "unknown local");
        return;
      }
      fuel_add(c, 1);
      uint32_t sl = c->local_slot[x];
      get_local_slot(c, sl);
      if (c->local_types[sl] == WH_V128) get_local_slot(c, sl + 1);
      break;
    }
    case 0x21: case 0x22: { /* local.set, local.tee */
      uint32_t x = wh_rd_u32(r);
      if (FAILED(c)) return;
      if (x >= c->nwlocals) {
        invalid(c, "unknown local");
        return;
      }
      fuel_add(c, 1);
      do_local_set(c, x, opc == 0x22);
      break;
    }
    case 0x23: { /* global.get */
      uint32_t x = wh_rd_u32(r);
      if (FAILED(c)) return;
      if (x >= m->nglobals) {
        invalid(c, "unknown global");
        return;
      }
      fuel_add(c, 1);
      uint32_t hd = c->sp;
      bool wide = m->globals[x].type == WH_V128;
      if (!dead(c)) {
        emit_op(c, wide ? WOP_GLOBAL_GET128 : WOP_GLOBAL_GET);
        int32_t dpos = emit_w(c, slot_off(c, hd));
        emit_w(c, (int32_t)x);
        if (!wide) note_dst(c, dpos, hd);
      }
      if (wide) push_v128(c);
      else push(c, m->globals[x].type);
      break;
    }
    case 0x24: { /* global.set */
      uint32_t x = wh_rd_u32(r);
      if (FAILED(c)) return;
      if (x >= m->nglobals) {
        invalid(c, "unknown global");
        return;
      }
      if (!m->globals[x].mut) {
        invalid(c, "global is immutable");
        return;
      }
      fuel_add(c, 1);
      bool wide = m->globals[x].type == WH_V128;
      uint32_t h = wide ? pop_v128(c) : pop(c, m->globals[x].type, NULL);
      if (FAILED(c)) return;
      if (!dead(c)) {
        int32_t a = wide ? v_operand(c, h) : operand(c, h);
        emit_op(c, wide ? WOP_GLOBAL_SET128 : WOP_GLOBAL_SET);
        emit_w(c, a);
        emit_w(c, (int32_t)x);
      }
      break;
    }
    case 0x25: case 0x26: { /* table.get, table.set */
      uint32_t t = read_table(c);
      if (FAILED(c)) return;
      uint8_t et = m->tables[t].elem;
      fuel_add(c, 1);
      if (opc == 0x25) {
        uint32_t hi = pop(c, WH_I32, NULL);
        if (FAILED(c)) return;
        uint32_t hd = c->sp;
        if (!dead(c)) {
          int32_t a = operand(c, hi);
          emit_op(c, WOP_TABLE_GET);
          emit_w(c, slot_off(c, hd));
          emit_w(c, (int32_t)t);
          emit_w(c, a);
        }
        push(c, et);
      } else {
        uint32_t hv = pop(c, et, NULL);
        uint32_t hi = pop(c, WH_I32, NULL);
        if (FAILED(c)) return;
        if (!dead(c)) {
          int32_t a = operand(c, hi), b = operand(c, hv);
          emit_op(c, WOP_TABLE_SET);
          emit_w(c, (int32_t)t);
          emit_w(c, a);
          emit_w(c, b);
        }
      }
      break;
    }
    case 0x3f: case 0x40: { /* memory.size, memory.grow */
      uint32_t mem = read_memidx(c);
      if (FAILED(c)) return;
      fuel_add(c, 1);
      if (opc == 0x3f) {
        uint32_t hd = c->sp;
        if (!dead(c)) {
          emit_op(c, mem ? WOP_MEMORY_SIZE_M : WOP_MEMORY_SIZE);
          emit_w(c, slot_off(c, hd));
          if (mem) emit_w(c, (int32_t)mem);
        }
      } else {
        uint32_t h = pop(c, WH_I32, NULL);
        if (FAILED(c)) return;
        if (!dead(c)) {
          int32_t a = operand(c, h);
          emit_op(c, mem ? WOP_MEMORY_GROW_M : WOP_MEMORY_GROW);
          emit_w(c, slot_off(c, h));
          emit_w(c, a);
          if (mem) emit_w(c, (int32_t)mem);
        }
      }
      push(c, WH_I32);
      break;
    }
    case 0x41: {
      int32_t v = (int32_t)wh_rd_sleb(r, 32);
      if (FAILED(c)) return;
      fuel_add(c, 1);
      push_const(c, WH_I32, (uint32_t)v);
      break;
    }
    case 0x42: {
      int64_t v = wh_rd_sleb(r, 64);
      if (FAILED(c)) return;
      fuel_add(c, 1);
      push_const(c, WH_I64, (uint64_t)v);
      break;
    }
    case 0x43: {
      uint32_t v = wh_rd_fixed32(r);
      if (FAILED(c)) return;
      fuel_add(c, 1);
      push_const(c, WH_F32, v);
      break;
    }
    case 0x44: {
      uint64_t v = wh_rd_fixed64(r);
      if (FAILED(c)) return;
      fuel_add(c, 1);
      push_const(c, WH_F64, v);
      break;
    }
    case 0xbc: case 0xbd: case 0xbe: case 0xbf: { /* reinterpret: retag */
      static const uint8_t from[] = {WH_F32, WH_F64, WH_I32, WH_I64};
      static const uint8_t to[] = {WH_I32, WH_I64, WH_F32, WH_F64};
      uint32_t h = pop(c, from[opc - 0xbc], NULL);
      if (FAILED(c)) return;
      fuel_add(c, 1);
      if (h == UINT32_MAX) {
        push(c, to[opc - 0xbc]);
      } else {
        c->sp++;
        c->stack[h].type = to[opc - 0xbc];
      }
      c->cmp_pos = -1;
      break;
    }
    case 0xd0: { /* ref.null */
      uint8_t t = wh_rd_u8(r);
      if (FAILED(c)) return;
      if (t != WH_FUNCREF && t != WH_EXTERNREF) {
        wh_rd_fail(r, WH_EMALFORMED, "malformed reference type");
        return;
      }
      fuel_add(c, 1);
      push_const(c, t, 0);
      break;
    }
    case 0xd1: { /* ref.is_null */
      uint8_t t;
      uint32_t h = pop(c, T_UNKNOWN, &t);
      if (FAILED(c)) return;
      if (t != T_UNKNOWN && t != WH_FUNCREF && t != WH_EXTERNREF) {
        invalid(c, "type mismatch (ref.is_null on a number)");
        return;
      }
      fuel_add(c, 1);
      uint32_t hd = c->sp;
      if (!dead(c)) {
        int32_t a = operand(c, h);
        emit_op(c, WOP_REF_IS_NULL);
        int32_t dpos = emit_w(c, slot_off(c, hd));
        emit_w(c, a);
        note_dst(c, dpos, hd);
      }
      push(c, WH_I32);
      break;
    }
    case 0xd2: { /* ref.func */
      uint32_t x = wh_rd_u32(r);
      if (FAILED(c)) return;
      if (x >= m->nfuncs) {
        invalid(c, "unknown function");
        return;
      }
      if (!(m->declared_funcs[x / 8] & (1u << (x % 8)))) {
        invalid(c, "undeclared function reference");
        return;
      }
      fuel_add(c, 1);
      uint32_t hd = c->sp;
      if (!dead(c)) {
        emit_op(c, WOP_REF_FUNC);
        emit_w(c, slot_off(c, hd));
        emit_w(c, (int32_t)x);
      }
      push(c, WH_FUNCREF);
      break;
    }
    case 0xfc: {
      uint32_t sub = wh_rd_u32(r);
      if (FAILED(c)) return;
      if (sub < 8) {
        do_unop(c, &unops[unop_fc_index[sub]]);
        fuel_add(c, 1);
        break;
      }
      fuel_add(c, 1);
      switch (sub) {
      case 8: { /* memory.init */
        uint32_t seg = wh_rd_u32(r);
        uint32_t mem = read_memidx(c);
        if (FAILED(c)) return;
        if (!m->has_datacount) {
          wh_rd_fail(r, WH_EMALFORMED, "data count section required");
          return;
        }
        if (seg >= m->datacount) {
          invalid(c, "unknown data segment");
          return;
        }
        uint32_t hn = pop(c, WH_I32, NULL), hs = pop(c, WH_I32, NULL),
                 hd = pop(c, WH_I32, NULL);
        if (FAILED(c)) return;
        if (!dead(c)) {
          int32_t d = operand(c, hd), s = operand(c, hs), n = operand(c, hn);
          emit_op(c, mem ? WOP_MEMORY_INIT_M : WOP_MEMORY_INIT);
          if (mem) emit_w(c, (int32_t)mem);
          emit_w(c, (int32_t)seg);
          emit_w(c, d);
          emit_w(c, s);
          emit_w(c, n);
        }
        break;
      }
      case 9: { /* data.drop */
        uint32_t seg = wh_rd_u32(r);
        if (FAILED(c)) return;
        if (!m->has_datacount) {
          wh_rd_fail(r, WH_EMALFORMED, "data count section required");
          return;
        }
        if (seg >= m->datacount) {
          invalid(c, "unknown data segment");
          return;
        }
        if (!dead(c)) {
          emit_op(c, WOP_DATA_DROP);
          emit_w(c, (int32_t)seg);
        }
        break;
      }
      case 10: case 11: { /* memory.copy dst src, memory.fill */
        uint32_t mem = read_memidx(c);
        uint32_t smem = sub == 10 ? read_memidx(c) : 0;
        if (FAILED(c)) return;
        uint32_t hn = pop(c, WH_I32, NULL), hs = pop(c, WH_I32, NULL),
                 hd = pop(c, WH_I32, NULL);
        if (FAILED(c)) return;
        if (!dead(c)) {
          int32_t d = operand(c, hd), s = operand(c, hs), n = operand(c, hn);
          if (mem || smem) {
            emit_op(c, sub == 10 ? WOP_MEMORY_COPY_M : WOP_MEMORY_FILL_M);
            emit_w(c, (int32_t)mem);
            if (sub == 10) emit_w(c, (int32_t)smem);
          } else {
            emit_op(c, sub == 10 ? WOP_MEMORY_COPY : WOP_MEMORY_FILL);
          }
          emit_w(c, d);
          emit_w(c, s);
          emit_w(c, n);
        }
        break;
      }
      case 12: { /* table.init elem table */
        uint32_t seg = wh_rd_u32(r);
        uint32_t t = read_table(c);
        if (FAILED(c)) return;
        if (seg >= m->nelems) {
          invalid(c, "unknown elem segment");
          return;
        }
        if (m->elems[seg].elem != m->tables[t].elem) {
          invalid(c, "type mismatch");
          return;
        }
        uint32_t hn = pop(c, WH_I32, NULL), hs = pop(c, WH_I32, NULL),
                 hd = pop(c, WH_I32, NULL);
        if (FAILED(c)) return;
        if (!dead(c)) {
          int32_t d = operand(c, hd), s = operand(c, hs), n = operand(c, hn);
          emit_op(c, WOP_TABLE_INIT);
          emit_w(c, (int32_t)t);
          emit_w(c, (int32_t)seg);
          emit_w(c, d);
          emit_w(c, s);
          emit_w(c, n);
        }
        break;
      }
      case 13: { /* elem.drop */
        uint32_t seg = wh_rd_u32(r);
        if (FAILED(c)) return;
        if (seg >= m->nelems) {
          invalid(c, "unknown elem segment");
          return;
        }
        if (!dead(c)) {
          emit_op(c, WOP_ELEM_DROP);
          emit_w(c, (int32_t)seg);
        }
        break;
      }
      case 14: { /* table.copy dst src */
        uint32_t td = read_table(c);
        uint32_t ts = read_table(c);
        if (FAILED(c)) return;
        if (m->tables[td].elem != m->tables[ts].elem) {
          invalid(c, "type mismatch");
          return;
        }
        uint32_t hn = pop(c, WH_I32, NULL), hs = pop(c, WH_I32, NULL),
                 hd = pop(c, WH_I32, NULL);
        if (FAILED(c)) return;
        if (!dead(c)) {
          int32_t d = operand(c, hd), s = operand(c, hs), n = operand(c, hn);
          emit_op(c, WOP_TABLE_COPY);
          emit_w(c, (int32_t)td);
          emit_w(c, (int32_t)ts);
          emit_w(c, d);
          emit_w(c, s);
          emit_w(c, n);
        }
        break;
      }
      case 15: case 17: { /* table.grow, table.fill */
        uint32_t t = read_table(c);
        if (FAILED(c)) return;
        uint8_t et = m->tables[t].elem;
        uint32_t hn = pop(c, WH_I32, NULL);
        uint32_t hv = pop(c, et, NULL);
        uint32_t hi = sub == 17 ? pop(c, WH_I32, NULL) : 0;
        if (FAILED(c)) return;
        uint32_t hd = c->sp;
        if (!dead(c)) {
          int32_t n = operand(c, hn), v = operand(c, hv);
          if (sub == 15) {
            emit_op(c, WOP_TABLE_GROW);
            emit_w(c, slot_off(c, hd));
            emit_w(c, (int32_t)t);
            emit_w(c, v);
            emit_w(c, n);
          } else {
            int32_t i = operand(c, hi);
            emit_op(c, WOP_TABLE_FILL);
            emit_w(c, (int32_t)t);
            emit_w(c, i);
            emit_w(c, v);
            emit_w(c, n);
          }
        }
        if (sub == 15) push(c, WH_I32);
        break;
      }
      case 16: { /* table.size */
        uint32_t t = read_table(c);
        if (FAILED(c)) return;
        uint32_t hd = c->sp;
        if (!dead(c)) {
          emit_op(c, WOP_TABLE_SIZE);
          emit_w(c, slot_off(c, hd));
          emit_w(c, (int32_t)t);
        }
        push(c, WH_I32);
        break;
      }
      default:
        wh_rd_fail(r, WH_EMALFORMED, "illegal opcode 0xfc %u", sub);
        return;
      }
      break;
    }
    case 0xfd:
      compile_simd(c);
      if (FAILED(c)) return;
      break;
    default:
      if (opc >= 0x28 && opc <= 0x35) {
        const struct mem_info *mi = &loads[load_index[opc]];
        uint32_t off;
        uint32_t mem = read_memarg(c, mi->align, &off);
        if (FAILED(c)) return;
        fuel_add(c, 1);
        uint32_t h = pop(c, WH_I32, NULL);
        if (FAILED(c)) return;
        uint32_t hd = c->sp;
        if (!dead(c)) {
          int32_t a = operand(c, h);
          emit_op(c, mem ? mi->op_m : mi->op);
          int32_t dpos = emit_w(c, slot_off(c, hd));
          emit_w(c, a);
          emit_w(c, (int32_t)off);
          if (mem) emit_w(c, (int32_t)mem);
          note_dst(c, dpos, hd);
        }
        push(c, mi->type);
      } else if (opc >= 0x36 && opc <= 0x3e) {
        const struct mem_info *mi = &stores[store_index[opc]];
        uint32_t off;
        uint32_t mem = read_memarg(c, mi->align, &off);
        if (FAILED(c)) return;
        fuel_add(c, 1);
        uint32_t hv = pop(c, mi->type, NULL);
        uint32_t ha = pop(c, WH_I32, NULL);
        if (FAILED(c)) return;
        if (!dead(c)) {
          int32_t a = operand(c, ha), v = operand(c, hv);
          emit_op(c, mem ? mi->op_m : mi->op);
          emit_w(c, a);
          emit_w(c, v);
          emit_w(c, (int32_t)off);
          if (mem) emit_w(c, (int32_t)mem);
        }
      } else if (binop_index[opc] >= 0) {
        fuel_add(c, 1);
        do_binop(c, &binops[binop_index[opc]]);
      } else if (unop_index[opc] >= 0) {
        fuel_add(c, 1);
        do_unop(c, &unops[unop_index[opc]]);
      } else {
        c->r.p--;
        wh_rd_fail(r, WH_EMALFORMED, "illegal opcode 0x%02x", opc);
        return;
      }
    }
  }
}

/* Decodes the local declarations and compiles one function. */
static int compile_func(cc_t *c, wh_func_def_t *def, const uint8_t *bytes) {
  wh_reader_t *r = &c->r;
  r->p = bytes + def->body_off;
  r->end = r->p + def->body_len;
  c->ft = def->ft;

  uint32_t ngroups = wh_rd_u32(r);
  if (FAILED(c)) return c->r.diag ? c->r.diag->code : WH_EMALFORMED;
  uint64_t total = c->ft->nparams;
  const uint8_t *save = r->p;
  for (uint32_t i = 0; i < ngroups && !FAILED(c); i++) {
    total += wh_rd_u32(r);   /* groups <= body bytes: no u64 overflow */
    wh_rd_u8(r);
  }
  if (FAILED(c)) return c->r.diag ? c->r.diag->code : WH_EMALFORMED;
  if (total > 0xffffffffu) return wh_rd_fail(r, WH_EMALFORMED, "too many locals");
  if (total > WH_MAX_LOCALS)
    return wh_rd_fail(r, WH_ELIMIT, "too many locals (%llu, limit %u)",
                      (unsigned long long)total, WH_MAX_LOCALS);
  r->p = save;
  c->nwlocals = (uint32_t)total;
  free(c->local_types);
  free(c->local_slot);
  c->local_types = malloc(total ? total * 2 : 1);   /* v128: two slots */
  c->local_slot = malloc(total ? total * sizeof *c->local_slot : 1);
  if (!c->local_types || !c->local_slot)
    return wh_rd_fail(r, WH_ENOMEM, "out of memory");
  uint32_t at = 0, nslots = 0;
  for (uint32_t i = 0; i < c->ft->nparams; i++) {
    c->local_slot[at++] = nslots;
    c->local_types[nslots++] = c->ft->types[i];
    if (c->ft->types[i] == WH_V128) c->local_types[nslots++] = T_VHI;
  }
  uint32_t param_slots = nslots;
  for (uint32_t i = 0; i < ngroups && !FAILED(c); i++) {
    uint32_t n = wh_rd_u32(r);
    uint8_t t = wh_rd_u8(r);
    if (FAILED(c)) break;
    if (t == WH_V128 && !c->e->cfg.simd) {
      r->p--;
      wh_rd_fail(r, WH_EUNSUPPORTED, SIMD_OFF);
      break;
    }
    if (!single(t)) {
      r->p--;
      wh_rd_fail(r, WH_EMALFORMED, "malformed value type 0x%02x", t);
      break;
    }
    for (uint32_t k = 0; k < n; k++) {
      c->local_slot[at++] = nslots;
      c->local_types[nslots++] = t;
      if (t == WH_V128) c->local_types[nslots++] = T_VHI;
    }
  }
  if (FAILED(c)) return c->r.diag ? c->r.diag->code : WH_EMALFORMED;
  c->nlocals = nslots;
  c->res = expand(c, c->ft->types + c->ft->nparams, c->ft->nresults, &c->nres);
  if (FAILED(c)) return c->r.diag ? c->r.diag->code : WH_ENOMEM;

  c->sp = 0;
  c->max_height = 0;
  c->nframes = 0;
  c->len = 0;
  c->fuel_pos = -1;
  c->fuel_acc = 0;
  c->cmp_pos = -1;
  c->last_dst_pos = -1;
  c->nemit = 0;
  push_frame(c, F_FUNC, NULL, 0, c->res, c->nres);
  compile_body(c);
  if (FAILED(c)) return c->r.diag ? c->r.diag->code : WH_EINVALID;
  if (r->p != r->end)
    return wh_rd_fail(r, WH_EMALFORMED, "section size mismatch (bytes after the function's end)");

  def->nlocals = c->nlocals;
  def->nparam_slots = param_slots;
  uint64_t slots = (uint64_t)c->nlocals + c->max_height;
  if (slots < c->nres) slots = c->nres;
  def->frame_slots = (uint32_t)slots;
  def->code = malloc(c->len ? c->len : 1);
  if (!def->code) return wh_rd_fail(r, WH_ENOMEM, "out of memory");
  memcpy(def->code, c->code, c->len);
  def->code_len = (uint32_t)c->len;
  return 0;
}

int wh__compile_module(wh_module_t *m, const uint8_t *bytes, size_t len,
                       wh_diag_t *diag) {
  pthread_once(&tables_once, init_tables);
  cc_t c = {0};
  c.m = m;
  c.e = m->engine;
  c.r = (wh_reader_t){.base = bytes, .p = bytes, .end = bytes + len, .diag = diag};
  c.fuel_on = m->engine->cfg.fuel;
  c.epoch_on = m->engine->cfg.epoch_interrupt;
  c.frames_cap = 16;
  c.frames = malloc(c.frames_cap * sizeof *c.frames);
  int rc = 0;
  if (!c.frames) {
    rc = wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    goto done;
  }
  for (uint32_t i = 0; i < m->nfuncs - m->nfunc_imports; i++) {
    m->defs[i].index = m->nfunc_imports + i;
    rc = compile_func(&c, &m->defs[i], bytes);
    if (rc) goto done;
    wh__thread_code(m->defs[i].code, m->defs[i].code_len);
  }
done:
  free(c.frames);
  free(c.stack);
  free(c.code);
  free(c.local_types);
  free(c.local_slot);
  for (uint32_t i = 0; i < c.nxbufs; i++) free(c.xbufs[i]);
  free(c.xbufs);
  return rc;
}
