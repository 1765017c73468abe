/*
 * test_serialize.c - compiled modules to blobs and back
 * (engine/serialize.c): round trips run the same, foreign blobs are
 * refused, and every truncation or single-byte corruption is WH_ECORRUPT.
 *
 * Blob layout (from serialize.c): "WHARFMOD", u32 version, u32 F,
 * F bytes of fingerprint, u64 payload length, u64 checksum of the payload
 * (wh__sum64, blob.h), payload.  Tests that re-sign a doctored payload (to
 * get past the checksum and reach the field checks) recompute it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "blob.h"
#include "engine_int.h"
#include "wcode.h"
#include "wt.h"

static int host_neg(wh_caller_t *c, void *env, uint64_t *slots) {
  (void)c;
  (void)env;
  slots[0] = (uint32_t)-(int32_t)(uint32_t)slots[0];
  return 0;
}

/* (module
 *   (import "env" "neg" (func $neg (param i32) (result i32)))
 *   (memory 1) (table 2 funcref) (global $g (mut i32) (i32.const 100))
 *   (data (i32.const 32) "\05\00\00\00") (data "zz")
 *   (elem (i32.const 1) $fib)
 *   (func $fib (export "fib") (param i32) (result i32) ...iterative...)
 *   (func $mix (export "mix") (param i32) (result i32)
 *     (call $neg (i32.add (i32.load (i32.const 32))
 *                         (call_indirect (param i32) (result i32) (local.get 0) (i32.const 1))))
 *     (global.get $g) i32.add)
 *   (func $boom (export "boom") unreachable)      ;; named "boom"
 * ) */
static void build(wb_mod_t *m) {
  wb_init(m);
  wb_import_func(m, "env", "neg", "i", "i");
  wb_table(m, WH_FUNCREF, 2, WB_NO_MAX);
  wb_memory(m, 1, WB_NO_MAX);
  wb_global(m, 'i', true, CODE(I32_CONST(100)));
  uint32_t fib = wb_func(m, "i", "i", "iii", CODE(
      I32_CONST(1), LOCAL_SET(2),
      BLOCK(BT_VOID), LOOP(BT_VOID),
      LOCAL_GET(0), I32_EQZ, BR_IF(1),
      LOCAL_GET(1), LOCAL_GET(2), I32_ADD, LOCAL_SET(3),
      LOCAL_GET(2), LOCAL_SET(1), LOCAL_GET(3), LOCAL_SET(2),
      LOCAL_GET(0), I32_CONST(1), I32_SUB, LOCAL_SET(0),
      BR(0), END, END,
      LOCAL_GET(1)));
  uint32_t mix = wb_func(m, "i", "i", "", CODE(
      I32_CONST(32), I32_LOAD(2, 0), LOCAL_GET(0), I32_CONST(1), CALL_INDIRECT(0, 0), I32_ADD,
      CALL(0), GLOBAL_GET(0), I32_ADD));
  uint32_t boom = wb_func(m, "", "", "", CODE(UNREACHABLE));
  /* (func $br (export "br") (result i32) (block (br 0)) (i32.const 5)) */
  uint32_t br = wb_func(m, "", "i", "", CODE(BLOCK(BT_VOID), BR(0), END, I32_CONST(5)));
  wb_export(m, "fib", WH_EXTERN_FUNC, fib);
  wb_export(m, "mix", WH_EXTERN_FUNC, mix);
  wb_export(m, "boom", WH_EXTERN_FUNC, boom);
  wb_export(m, "br", WH_EXTERN_FUNC, br);
  wb_export(m, "mem", WH_EXTERN_MEMORY, 0);
  wb_elem(m, 1, &fib, 1);
  wb_data(m, 32, "\x05\0\0\0", 4);
  wb_data_passive(m, "zz", 2);
  wb_name_func(m, boom, "boom");
  wb_name_func(m, fib, "fib");
}

/* Results of running the module's exports, to compare two modules. */
typedef struct outcome {
  int rc;
  int32_t fib10, mix3, br;
  char boom_msg[64], boom_bt[64];
} outcome_t;

static outcome_t run(wh_engine_t *e, const wh_module_t *mod) {
  outcome_t o;
  memset(&o, 0, sizeof o);
  wh_linker_t *l = wh_linker_new(e);
  wh_exec_t *x = wh_exec_new(e);
  wh_instance_t *inst = NULL;
  wh_diag_t d;
  wh_linker_define_func(l, "env", "neg", "i", "i", host_neg, NULL);
  o.rc = wh_linker_instantiate(l, mod, x, &inst, &d);
  if (o.rc == 0) {
    wh_val_t a = WT_I32(10), r;
    o.rc |= wh_call(x, wh_instance_func(inst, "fib"), &a, 1, &r, 1);
    o.fib10 = r.of.i32;
    a = WT_I32(3);
    o.rc |= wh_call(x, wh_instance_func(inst, "mix"), &a, 1, &r, 1);
    o.mix3 = r.of.i32;
    o.rc |= wh_call(x, wh_instance_func(inst, "br"), NULL, 0, &r, 1);
    o.br = r.of.i32;
    wh_call(x, wh_instance_func(inst, "boom"), NULL, 0, NULL, 0);
    const char *msg = NULL, *bt = NULL;
    wh_exec_trap(x, &msg, &bt);
    snprintf(o.boom_msg, sizeof o.boom_msg, "%s", msg ? msg : "");
    snprintf(o.boom_bt, sizeof o.boom_bt, "%s", bt ? bt : "");
  }
  wh_instance_free(inst);
  wh_exec_free(x);
  wh_linker_free(l);
  return o;
}

static bool same(const outcome_t *a, const outcome_t *b) {
  return a->rc == b->rc && a->fib10 == b->fib10 && a->mix3 == b->mix3 && a->br == b->br &&
         strcmp(a->boom_msg, b->boom_msg) == 0 && strcmp(a->boom_bt, b->boom_bt) == 0;
}

/* Compiles the test module on `e` and serializes it. */
static uint8_t *make_blob(wh_engine_t *e, size_t *blob_len, wh_module_t **keep) {
  wb_mod_t m;
  build(&m);
  size_t len;
  const uint8_t *bytes = wb_bytes(&m, &len);
  wh_diag_t d;
  wh_module_t *mod = wh_module_new(e, bytes, len, &d);
  WT_CHECK(mod != NULL, "the serialization test module compiles (%s)", d.msg);
  uint8_t *blob = NULL;
  *blob_len = 0;
  if (mod) {
    int rc = wh_module_serialize(mod, &blob, blob_len);
    WT_CHECK(rc == 0 && blob && *blob_len > 64, "the module serializes (got %s, %zu bytes)",
             wh_errname(rc), *blob_len);
  }
  if (keep) *keep = mod;
  else wh_module_free(mod);
  wb_fini(&m);
  return blob;
}

/* Where the payload starts, and re-signing it after a change. */
static size_t payload_at(const uint8_t *blob) {
  uint32_t f;
  memcpy(&f, blob + 12, 4);
  return 32 + (size_t)f;
}

static void resign(uint8_t *blob, size_t len) {
  size_t p = payload_at(blob);
  uint64_t sum = wh__sum64(blob + p, len - p);
  memcpy(blob + p - 8, &sum, 8);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_round_trip(void) {
  wh_engine_t *e = wh_engine_new(NULL);
  wh_module_t *orig = NULL;
  size_t len;
  uint8_t *blob = make_blob(e, &len, &orig);
  if (!blob) {
    wh_module_free(orig);
    wh_engine_free(e);
    return;
  }
  WT_CHECK(memcmp(blob, "WHARFMOD", 8) == 0, "a blob starts with the magic WHARFMOD");
  wh_diag_t d;
  wh_module_t *copy = wh_module_deserialize(e, blob, len, &d);
  WT_CHECK(copy != NULL, "the blob loads back on the same engine (%s)", d.msg);
  if (copy) {
    outcome_t a = run(e, orig), b = run(e, copy);
    WT_CHECK(a.rc == 0 && a.fib10 == 55 && a.mix3 == 93 && a.br == 5,
             "the original runs: fib(10) = 55, mix(3) = -(5 + 2) + 100 = 93, br = 5 "
             "(got rc %d, %d, %d, %d)", a.rc, a.fib10, a.mix3, a.br);
    WT_CHECK(same(&a, &b), "the copy gives the same results, traps and backtraces "
             "(fib %d/%d, mix %d/%d, br %d/%d, \"%s\"/\"%s\")", a.fib10, b.fib10, a.mix3,
             b.mix3, a.br, b.br, a.boom_bt, b.boom_bt);
    WT_CHECK(strcmp(b.boom_bt, "  #0 boom\n") == 0, "names survive the round trip (got \"%s\")",
             b.boom_bt);
    WT_CHECK(wh_module_import_count(copy) == 1 && wh_module_export_count(copy) == 5,
             "the copy lists the same imports and exports");
    const char *p, *r;
    WT_CHECK(wh_module_export_functype(copy, "mix", &p, &r) == 0 && strcmp(p, "i") == 0 &&
                 strcmp(r, "i") == 0, "export types survive the round trip");
    /* serializing the copy gives the same blob */
    uint8_t *blob2 = NULL;
    size_t len2 = 0;
    wh_module_serialize(copy, &blob2, &len2);
    WT_CHECK(len2 == len && blob2 && memcmp(blob, blob2, len) == 0,
             "serializing the copy reproduces the blob byte for byte");
    free(blob2);
  }
  /* another engine with the same configuration reads it too */
  wh_engine_t *e2 = wh_engine_new(NULL);
  wh_module_t *other = wh_module_deserialize(e2, blob, len, &d);
  WT_CHECK(other != NULL, "an engine with the same fingerprint loads the blob (%s)", d.msg);
  if (other) {
    outcome_t a = run(e2, other);
    WT_CHECK(a.rc == 0 && a.fib10 == 55, "and runs it (fib(10) = %d)", a.fib10);
  }
  wh_module_free(other);
  wh_engine_free(e2);
  wh_module_free(copy);
  wh_module_free(orig);
  free(blob);
  wh_engine_free(e);
}

static void test_foreign_engine(void) {
  wh_engine_config_t off;
  wh_engine_config_default(&off);
  off.fuel = false;
  wh_engine_t *on_e = wh_engine_new(NULL), *off_e = wh_engine_new(&off);
  size_t len_on, len_off;
  uint8_t *blob_on = make_blob(on_e, &len_on, NULL);
  uint8_t *blob_off = make_blob(off_e, &len_off, NULL);
  wh_diag_t d;
  if (blob_on && blob_off) {
    wh_module_t *m = wh_module_deserialize(on_e, blob_off, len_off, &d);
    WT_CHECK(m == NULL && d.code == WH_ECORRUPT,
             "a fuel-on engine refuses a blob from a fuel-off engine (got %s)",
             m ? "a module" : wh_errname(d.code));
    WT_CHECK(strstr(d.msg, "different engine") != NULL,
             "the diagnostic says the blob is from a different engine (got \"%s\")", d.msg);
    wh_module_free(m);
    m = wh_module_deserialize(off_e, blob_on, len_on, &d);
    WT_CHECK(m == NULL && d.code == WH_ECORRUPT,
             "a fuel-off engine refuses a blob from a fuel-on engine (got %s)",
             m ? "a module" : wh_errname(d.code));
    wh_module_free(m);
    m = wh_module_deserialize(off_e, blob_off, len_off, &d);
    WT_CHECK(m != NULL, "each engine reads its own blob (%s)", d.msg);
    wh_module_free(m);
  }
  /* a wasm binary is not a blob */
  static const uint8_t wasm[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  wh_module_t *m = wh_module_deserialize(on_e, wasm, sizeof wasm, &d);
  WT_CHECK(m == NULL && d.code == WH_ECORRUPT, "a wasm binary is not a blob (got %s)",
           wh_errname(d.code));
  free(blob_on);
  free(blob_off);
  wh_engine_free(on_e);
  wh_engine_free(off_e);
}

static void test_every_corruption_is_refused(void) {
  wh_engine_t *e = wh_engine_new(NULL);
  size_t len;
  uint8_t *blob = make_blob(e, &len, NULL);
  if (!blob) {
    wh_engine_free(e);
    return;
  }
  static const uint8_t masks[] = {0x01, 0x80, 0xff};
  size_t accepted = 0, wrong_code = 0, first = 0;
  uint8_t *copy = malloc(len + 1);
  for (size_t i = 0; i < len; i++) {
    for (size_t k = 0; k < sizeof masks; k++) {
      memcpy(copy, blob, len);
      copy[i] ^= masks[k];
      wh_diag_t d;
      wh_module_t *m = wh_module_deserialize(e, copy, len, &d);
      if (m) {
        if (!accepted++) first = i;
        wh_module_free(m);
      } else if (d.code != WH_ECORRUPT) {
        wrong_code++;
      }
    }
  }
  WT_CHECK(accepted == 0, "every single-byte corruption of a %zu-byte blob is refused "
           "(%zu were loaded, the first at byte %zu)", len, accepted, first);
  WT_CHECK(wrong_code == 0, "every refusal is WH_ECORRUPT (%zu were not)", wrong_code);

  size_t truncated_ok = 0;
  for (size_t n = 0; n < len; n++) {
    uint8_t *cut = malloc(n ? n : 1);   /* exact size: ASan sees overreads */
    memcpy(cut, blob, n);
    wh_diag_t d;
    wh_module_t *m = wh_module_deserialize(e, cut, n, &d);
    if (m || d.code != WH_ECORRUPT) truncated_ok++;
    wh_module_free(m);
    free(cut);
  }
  WT_CHECK(truncated_ok == 0, "every truncation is refused with WH_ECORRUPT (%zu were not)",
           truncated_ok);

  memcpy(copy, blob, len);
  copy[len] = 0;
  wh_diag_t d;
  wh_module_t *m = wh_module_deserialize(e, copy, len + 1, &d);
  WT_CHECK(m == NULL && d.code == WH_ECORRUPT, "a blob with a byte appended is refused");
  wh_module_free(m);
  free(copy);
  free(blob);
  wh_engine_free(e);
}

static void test_resigned_corruption_never_crashes(void) {
  /* past the checksum, every field check must hold: flip each payload
   * byte, re-sign, load; any outcome but a crash (or a sanitizer report)
   * is acceptable, since a re-signed blob can change meaning legally */
  wh_engine_t *e = wh_engine_new(NULL);
  size_t len;
  uint8_t *blob = make_blob(e, &len, NULL);
  if (!blob) {
    wh_engine_free(e);
    return;
  }
  size_t p0 = payload_at(blob), loaded = 0, refused = 0, odd = 0;
  uint8_t *copy = malloc(len);
  static const uint8_t masks[] = {0x01, 0x7f, 0xff};
  for (size_t i = p0; i < len; i++) {
    for (size_t k = 0; k < sizeof masks; k++) {
      memcpy(copy, blob, len);
      copy[i] ^= masks[k];
      resign(copy, len);
      wh_diag_t d;
      wh_module_t *m = wh_module_deserialize(e, copy, len, &d);
      if (m) loaded++;
      else if (d.code == WH_ECORRUPT) refused++;
      else odd++;
      wh_module_free(m);
    }
  }
  WT_CHECK(refused > 0, "re-signed corruptions are caught by the field checks (%zu refused, "
           "%zu loaded)", refused, loaded);
  WT_CHECK(odd == 0, "a refused blob is WH_ECORRUPT (%zu were not)", odd);
  free(copy);
  free(blob);
  wh_engine_free(e);
}

/* The serialized (op-numbered) form of a module's function `def`. */
static uint8_t *unthreaded_code(const wh_func_def_t *def) {
  uint8_t *code = malloc(def->code_len ? def->code_len : 1);
  memcpy(code, def->code, def->code_len);
  uint32_t pos = 0;
  while (pos + 8 <= def->code_len) {
    int op = wh__wop_of_handler(code + pos);
    if (op < 0) {
      free(code);
      return NULL;
    }
    uint64_t op64 = (uint64_t)op;
    memcpy(code + pos, &op64, 8);
    int words = wh__wop_words[op];
    if (words < 0) {
      int32_t n;
      memcpy(&n, code + pos + 12, 4);
      words = 2 + n + 1;
    }
    pos += 8 + 4 * (uint32_t)words;
  }
  return code;
}

static void test_branch_out_of_code_is_refused(void) {
  /* serialize.c's check_code promises "branch targets inside": a
   * re-signed blob whose br jumps far past its function must be refused
   * rather than loaded (running it would jump into the heap) */
  wh_engine_t *e = wh_engine_new(NULL);
  wh_module_t *mod = NULL;
  size_t len;
  uint8_t *blob = make_blob(e, &len, &mod);
  if (!blob || !mod) {
    free(blob);
    wh_module_free(mod);
    wh_engine_free(e);
    return;
  }
  /* "br" is the fourth defined function */
  const wh_func_def_t *def = &mod->defs[3];
  uint8_t *code = unthreaded_code(def);
  uint8_t *at = code ? memmem(blob, len, code, def->code_len) : NULL;
  WT_CHECK(at != NULL, "the br function's code is found in the blob");
  int32_t *rel = NULL;
  if (at) {
    uint32_t pos = 0;
    while (pos + 8 <= def->code_len) {
      uint64_t op;
      memcpy(&op, at + pos, 8);
      if (op == WOP_BR) {
        rel = (int32_t *)(void *)(at + pos + 8);
        break;
      }
      int words = wh__wop_words[op];
      if (words < 0) {
        int32_t n;
        memcpy(&n, at + pos + 12, 4);
        words = 2 + n + 1;
      }
      pos += 8 + 4 * (uint32_t)words;
    }
  }
  WT_CHECK(rel != NULL, "the br function compiles to a BR op");
  if (rel) {
    int32_t far = 0x4000000;
    memcpy(rel, &far, 4);
    resign(blob, len);
    wh_diag_t d;
    wh_module_t *bad = wh_module_deserialize(e, blob, len, &d);
    WT_CHECK(bad == NULL && d.code == WH_ECORRUPT,
             "a blob whose br jumps 64 MiB past its function is refused (got %s)",
             bad ? "a module" : wh_errname(d.code));
    wh_module_free(bad);
  }
  free(code);
  free(blob);
  wh_module_free(mod);
  wh_engine_free(e);
}

/* (module
 *   (memory 1) (memory 1 2) (export "m1" (memory 1))
 *   (data (memory 1) (i32.const 8) "\07")
 *   (func (export "f") (param i32) (result i32)   ;; a is the argument
 *     (i32.store 1 (i32.const 0) (local.get 0))
 *     (memory.copy 0 1 (i32.const 100) (i32.const 0) (i32.const 4))
 *     (drop (memory.grow 1 (i32.const 1)))
 *     (i32.add (i32.add (i32.load 0 (i32.const 100)) (i32.load8_u 1 (i32.const 8)))
 *              (memory.size 1))))            ;; a + 7 + 2 */
static void build_two_memories(wb_mod_t *m) {
  wb_init(m);
  wb_memory(m, 1, WB_NO_MAX);
  wb_memory(m, 1, 2);
  uint32_t f = wb_func(m, "i", "i", "", CODE(
      I32_CONST(0), LOCAL_GET(0), I32_STORE_M(2, 1, 0),
      I32_CONST(100), I32_CONST(0), I32_CONST(4), MEMORY_COPY_M(0, 1),
      I32_CONST(1), MEMORY_GROW_M(1), DROP,
      I32_CONST(100), I32_LOAD(2, 0), I32_CONST(8), I32_LOAD8_U_M(0, 1, 0), I32_ADD,
      MEMORY_SIZE_M(1), I32_ADD));
  wb_export(m, "f", WH_EXTERN_FUNC, f);
  wb_export(m, "m1", WH_EXTERN_MEMORY, 1);
  wb_data_mem(m, 1, 8, "\x07", 1);
}

/* Runs "f" (40) on a fresh instance of `mod`; memory 1's size in *pages. */
static int32_t run_two_memories(wh_engine_t *e, const wh_module_t *mod, uint64_t *pages) {
  wh_linker_t *l = wh_linker_new(e);
  wh_exec_t *x = wh_exec_new(e);
  wh_instance_t *inst = NULL;
  wh_diag_t d;
  int32_t out = -1;
  *pages = 0;
  if (wh_linker_instantiate(l, mod, x, &inst, &d) == 0) {
    wh_val_t a = WT_I32(40), r = WT_I32(-1);
    if (wh_call(x, wh_instance_func(inst, "f"), &a, 1, &r, 1) == 0) out = r.of.i32;
    wh_memory_data(wh_instance_memory(inst, "m1"), pages);
    *pages /= 65536;
  }
  wh_instance_free(inst);
  wh_exec_free(x);
  wh_linker_free(l);
  return out;
}

static void test_multi_memory_round_trip(void) {
  wh_engine_t *e = wh_engine_new(NULL);
  wb_mod_t m;
  build_two_memories(&m);
  size_t len;
  const uint8_t *bytes = wb_bytes(&m, &len);
  wh_diag_t d;
  wh_module_t *orig = wh_module_new(e, bytes, len, &d);
  WT_CHECK(orig != NULL, "the two-memory module compiles (%s)", d.msg);
  uint8_t *blob = NULL;
  size_t blen = 0;
  if (orig) {
    int rc = wh_module_serialize(orig, &blob, &blen);
    WT_CHECK(rc == 0 && blob, "the two-memory module serializes (got %s)", wh_errname(rc));
  }
  wh_module_t *copy = blob ? wh_module_deserialize(e, blob, blen, &d) : NULL;
  WT_CHECK(copy != NULL, "its blob loads back (%s)", blob ? d.msg : "no blob");
  if (copy) {
    uint64_t pa = 0, pb = 0;
    int32_t a = run_two_memories(e, orig, &pa), b = run_two_memories(e, copy, &pb);
    WT_CHECK(a == 49 && pa == 2, "the original computes 40 + 7 + 2 = 49 and grows memory 1 "
             "to 2 pages (got %d, %llu)", a, (unsigned long long)pa);
    WT_CHECK(b == a && pb == pa, "the copy computes the same (got %d, %llu pages)", b,
             (unsigned long long)pb);

    /* a re-signed blob naming memory 5 in an op is refused: find f's code
     * in the blob and the I32_STORE_M op in it */
    const wh_func_def_t *def = &copy->defs[0];
    uint8_t *code = unthreaded_code(def);
    uint8_t *at = code ? memmem(blob, blen, code, def->code_len) : NULL;
    int32_t *memw = NULL;
    for (uint32_t pos = 0; at && pos + 8 <= def->code_len;) {
      uint64_t op;
      memcpy(&op, at + pos, 8);
      if (op == WOP_I32_STORE_M) {
        memw = (int32_t *)(void *)(at + pos + 8 + 12);
        break;
      }
      pos += 8 + 4 * (uint32_t)wh__wop_words[op];   /* f has no br_table */
    }
    WT_CHECK(memw != NULL, "f's code holds an I32_STORE_M op");
    /* control: re-signing the unchanged blob keeps it loadable, so the
     * refusal below is the loader's operand check, not the checksum */
    resign(blob, blen);
    wh_module_t *same_blob = wh_module_deserialize(e, blob, blen, &d);
    WT_CHECK(same_blob != NULL, "a re-signed, unchanged blob still loads (%s)", d.msg);
    wh_module_free(same_blob);
    if (memw) {
      int32_t five = 5;
      memcpy(memw, &five, 4);
      resign(blob, blen);
      wh_module_t *bad = wh_module_deserialize(e, blob, blen, &d);
      WT_CHECK(bad == NULL && d.code == WH_ECORRUPT,
               "a blob whose store names memory 5 of 2 is refused (got %s: %s)",
               bad ? "a module" : wh_errname(d.code), bad ? "" : d.msg);
      wh_module_free(bad);
    }
    free(code);
  }
  free(blob);
  wh_module_free(copy);
  wh_module_free(orig);
  wb_fini(&m);
  wh_engine_free(e);
}

static void test_serialize_fault_injection(void) {
  if (!wt_alloc_hooked()) {
    WT_CHECK(true, "allocation hooks are not linked in; nothing to inject");
    return;
  }
  wh_engine_t *e = wh_engine_new(NULL);
  wh_module_t *mod = NULL;
  size_t len;
  uint8_t *blob = make_blob(e, &len, &mod);
  if (!blob || !mod) {
    free(blob);
    wh_module_free(mod);
    wh_engine_free(e);
    return;
  }
  uint64_t n, leaks = 0, wrong = 0;
  for (n = 1; n < 10000; n++) {
    wt_alloc_reset(n);
    uint8_t *out = NULL;
    size_t out_len = 0;
    int rc = wh_module_serialize(mod, &out, &out_len);
    if (rc != 0 && (rc != WH_ENOMEM || out != NULL)) wrong++;
    if (rc == 0 && (out_len != len || memcmp(out, blob, len) != 0)) wrong++;
    free(out);
    wt_alloc_stats_t s = wt_alloc_stats();
    wt_alloc_disarm();
    if (s.live != 0) leaks++;
    if (s.calls < n) break;
  }
  WT_CHECK(wrong == 0 && leaks == 0, "serializing survives every failed allocation "
           "(%llu wrong, %llu leaky of %llu)", (unsigned long long)wrong,
           (unsigned long long)leaks, (unsigned long long)n);
  leaks = wrong = 0;
  uint64_t first_wrong = 0;
  wh_diag_t first_diag;
  wh_diag_clear(&first_diag);
  for (n = 1; n < 10000; n++) {
    wt_alloc_reset(n);
    wh_diag_t d;
    wh_module_t *m = wh_module_deserialize(e, blob, len, &d);
    if (!m && d.code != WH_ENOMEM && !wrong++) {
      first_wrong = n;
      first_diag = d;
    }
    wh_module_free(m);
    wt_alloc_stats_t s = wt_alloc_stats();
    wt_alloc_disarm();
    if (s.live != 0) leaks++;
    if (s.calls < n) break;
  }
  WT_CHECK(leaks == 0, "deserializing leaks nothing when an allocation fails (%llu leaky "
           "runs of %llu)", (unsigned long long)leaks, (unsigned long long)n);
  WT_CHECK(wrong == 0, "a failed allocation while deserializing is WH_ENOMEM, not a corrupt "
           "blob (%llu of %llu runs were not; the first, allocation %llu, gave %s: \"%s\")",
           (unsigned long long)wrong, (unsigned long long)n, (unsigned long long)first_wrong,
           wh_errname(first_diag.code), first_diag.msg);
  free(blob);
  wh_module_free(mod);
  wh_engine_free(e);
}

CU_TestInfo wt_tests_serialize[] = {
    {"a round trip runs the same", test_round_trip},
    {"a blob from another engine configuration is refused", test_foreign_engine},
    {"every truncation and single-byte corruption is refused", test_every_corruption_is_refused},
    {"re-signed corruptions never crash the loader", test_resigned_corruption_never_crashes},
    {"a re-signed branch out of its function is refused", test_branch_out_of_code_is_refused},
    {"multi-memory: a round trip runs the same; bad memory indices are refused",
     test_multi_memory_round_trip},
    {"serialization survives every failed allocation", test_serialize_fault_injection},
    CU_TEST_INFO_NULL,
};
