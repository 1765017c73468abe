/*
 * test_decode.c - the binary decoder (engine/decode.c): header, sections,
 * LEB128, counts, indices, names, limits, and where diagnostics point.
 *
 * Most inputs are hand-assembled: the 8-byte header followed by a few
 * sections written out byte by byte, each with its WAT or layout in a
 * comment.  Section bytes read "id size contents".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wt.h"

#define HEADER 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00

/* Compiles header + `secs` (n bytes); returns the code, diag in *d. */
static int check_sections(const uint8_t *secs, size_t n, wh_diag_t *d) {
  uint8_t *buf = malloc(n + 8);
  memcpy(buf, (const uint8_t[]){HEADER}, 8);
  memcpy(buf + 8, secs, n);
  int rc = wt_compile(buf, n + 8, d);
  free(buf);
  return rc;
}

#define SECTIONS(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

/* A rejected input: its code and a piece of its message. */
typedef struct bad_case {
  const char *what;
  const uint8_t *bytes;
  size_t len;
  int code;
  const char *msg;
} bad_case_t;

#define BAD(what, code, msg, ...)                                             \
  {what, (const uint8_t[]){__VA_ARGS__},                                      \
   sizeof((const uint8_t[]){__VA_ARGS__}), code, msg}

static void check_cases(const bad_case_t *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    wh_diag_t d;
    int rc = check_sections(cases[i].bytes, cases[i].len, &d);
    WT_CHECK(rc == cases[i].code, "%s is rejected with %s (got %s: %s)",
             cases[i].what, wh_errname(cases[i].code), wh_errname(rc), d.msg);
    WT_CHECK(strstr(d.msg, cases[i].msg) != NULL,
             "the diagnostic for %s says \"%s\" (got \"%s\")", cases[i].what,
             cases[i].msg, d.msg);
  }
}

/* A module touching every section, for the truncation and fuzz-ish tests:
 *
 *   (module
 *     (type (func (param i32) (result i32)))
 *     (import "env" "f" (func $f (param i32) (result i32)))
 *     (table 2 funcref) (memory 1 2)
 *     (global $g (mut i32) (i32.const 7))
 *     (export "run" (func $run)) (export "mem" (memory 0))
 *     (elem (i32.const 0) $run $f)
 *     (func $run (param i32) (result i32)
 *       (memory.init 1 (i32.const 0) (i32.const 0) (i32.const 2))
 *       (call $f (i32.add (local.get 0) (global.get $g))))
 *     (data (i32.const 16) "hello") (data "xy")
 *     ;; name section: $run
 *   ) */
static void build_full(wb_mod_t *m) {
  wb_init(m);
  uint32_t f = wb_import_func(m, "env", "f", "i", "i");
  wb_table(m, WH_FUNCREF, 2, WB_NO_MAX);
  wb_memory(m, 1, 2);
  wb_global(m, 'i', true, CODE(I32_CONST(7)));
  uint32_t run = wb_func(m, "i", "i", "", CODE(
      I32_CONST(0), I32_CONST(0), I32_CONST(2), MEMORY_INIT(1),
      LOCAL_GET(0), GLOBAL_GET(0), I32_ADD, CALL(f)));
  wb_export(m, "run", WH_EXTERN_FUNC, run);
  wb_export(m, "mem", WH_EXTERN_MEMORY, 0);
  wb_elem(m, 0, (const uint32_t[]){run, f}, 2);
  wb_datacount(m);
  wb_data(m, 16, "hello", 5);
  wb_data_passive(m, "xy", 2);
  wb_name_func(m, run, "run");
}

/* ---- header -------------------------------------------------------------- */

static void test_bad_magic(void) {
  wh_diag_t d;
  static const uint8_t asn[] = {0x00, 0x61, 0x73, 0x6e, 0x01, 0x00, 0x00, 0x00};
  int rc = wt_compile(asn, sizeof asn, &d);
  WT_CHECK(rc == WH_EMALFORMED, "\\0asn is not a wasm magic (got %s)", wh_errname(rc));
  WT_CHECK(strcmp(d.msg, "magic header not detected") == 0,
           "a bad magic is reported as the spec words it (got \"%s\")", d.msg);
  WT_CHECK(d.offset == 0, "a bad magic points at byte 0 (got %lld)", d.offset);

  rc = wt_compile(asn, 0, &d);
  WT_CHECK(rc == WH_EMALFORMED, "an empty input is malformed (got %s)", wh_errname(rc));
  rc = wt_compile((const uint8_t *)"\0as", 3, &d);
  WT_CHECK(rc == WH_EMALFORMED, "three bytes of magic are malformed (got %s)", wh_errname(rc));
  static const uint8_t elf[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0};
  rc = wt_compile(elf, sizeof elf, &d);
  WT_CHECK(rc == WH_EMALFORMED && d.offset == 0, "an ELF header is malformed at byte 0");
}

static void test_bad_version(void) {
  wh_diag_t d;
  static const uint8_t v2[] = {0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00};
  int rc = wt_compile(v2, sizeof v2, &d);
  WT_CHECK(rc == WH_EMALFORMED, "version 2 is malformed (got %s)", wh_errname(rc));
  WT_CHECK(strcmp(d.msg, "unknown binary version") == 0,
           "a bad version says \"unknown binary version\" (got \"%s\")", d.msg);
  WT_CHECK(d.offset == 4, "a bad version points at byte 4 (got %lld)", d.offset);

  static const uint8_t short_ver[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00};
  rc = wt_compile(short_ver, sizeof short_ver, &d);
  WT_CHECK(rc == WH_EMALFORMED, "a version cut short is malformed (got %s)", wh_errname(rc));

  static const uint8_t layer2[] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x02, 0x00};
  rc = wt_compile(layer2, sizeof layer2, &d);
  WT_CHECK(rc == WH_EMALFORMED, "an unknown layer 2 is malformed, not a component (got %s)",
           wh_errname(rc));
}

static void test_component_header(void) {
  /* component-model preamble: version 0x000d, layer 0x0001 */
  static const uint8_t comp[] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00};
  wh_diag_t d;
  int rc = wt_compile(comp, sizeof comp, &d);
  WT_CHECK(rc == WH_ECOMPONENT, "a component header gives WH_ECOMPONENT (got %s)",
           wh_errname(rc));
  WT_CHECK(strcmp(d.msg, "this is a component, not a core module") == 0,
           "the message names a component (got \"%s\")", d.msg);
  WT_CHECK(d.offset == 4, "the diagnostic points at the version field (got %lld)", d.offset);

  /* a component with sections after the header is still named as such */
  static const uint8_t comp2[] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00,
                                  0x01, 0x03, 0x00, 0x00, 0x00};
  rc = wt_compile(comp2, sizeof comp2, &d);
  WT_CHECK(rc == WH_ECOMPONENT, "a component with content gives WH_ECOMPONENT (got %s)",
           wh_errname(rc));
}

static void test_empty_module(void) {
  static const uint8_t empty[] = {HEADER};
  wh_diag_t d;
  int rc = wt_compile(empty, sizeof empty, &d);
  WT_CHECK(rc == 0, "the 8-byte header alone is a valid module (got %s: %s)",
           wh_errname(rc), d.msg);
}

/* ---- truncation ---------------------------------------------------------- */

static bool is_boundary(const wb_mod_t *m, size_t k) {
  for (int i = 0; i < m->nends; i++)
    if (m->ends[i] == k) return true;
  return false;
}

static void test_truncated_everywhere(void) {
  wb_mod_t m;
  build_full(&m);
  size_t len;
  const uint8_t *full = wb_bytes(&m, &len);
  wh_diag_t d;
  int rc = wt_compile(full, len, &d);
  WT_CHECK(rc == 0, "the full module compiles (got %s: %s)", wh_errname(rc), d.msg);

  size_t bad = 0, first_bad = 0;
  int first_rc = 0;
  long long first_off = 0;
  for (size_t k = 0; k < len; k++) {
    uint8_t *cut = malloc(k ? k : 1);   /* exact size: ASan sees overreads */
    memcpy(cut, full, k);
    rc = wt_compile(cut, k, &d);
    free(cut);
    bool ok = rc == WH_EMALFORMED && d.offset >= 0 && d.offset <= (long long)k;
    if (is_boundary(&m, k)) ok = rc == 0 || ok;   /* a shorter whole module */
    if (!ok && bad++ == 0) {
      first_bad = k;
      first_rc = rc;
      first_off = d.offset;
    }
  }
  WT_CHECK(bad == 0,
           "every truncation of a %zu-byte module is malformed with an offset inside "
           "the input (%zu cuts are not; the first at %zu: %s, offset %lld)",
           len, bad, first_bad, wh_errname(first_rc), first_off);
  wb_fini(&m);
}

/* ---- LEB128 ------------------------------------------------------------- */

static void test_leb_truncated(void) {
  wh_diag_t d;
  /* section id then a size whose continuation bit runs off the end */
  int rc = check_sections(SECTIONS(0x01, 0x80), &d);
  WT_CHECK(rc == WH_EMALFORMED, "a section size cut mid-LEB128 is malformed (got %s)",
           wh_errname(rc));
  /* type section whose count is cut: 01 02 80 80 (size 2 covers both) */
  rc = check_sections(SECTIONS(0x01, 0x02, 0x80, 0x80), &d);
  WT_CHECK(rc == WH_EMALFORMED, "a count cut mid-LEB128 is malformed (got %s)",
           wh_errname(rc));
  WT_CHECK(strstr(d.msg, "unexpected end") != NULL,
           "a cut LEB128 says \"unexpected end\" (got \"%s\")", d.msg);
}

static void test_leb_overlong(void) {
  wh_diag_t d;
  /* type section, count as 5 bytes whose last has bits above bit 31 set */
  int rc = check_sections(SECTIONS(0x01, 0x05, 0x81, 0x80, 0x80, 0x80, 0x10), &d);
  WT_CHECK(rc == WH_EMALFORMED, "a 5-byte u32 with bit 32 set is malformed (got %s)",
           wh_errname(rc));
  WT_CHECK(strstr(d.msg, "integer too large") != NULL,
           "it says \"integer too large\" (got \"%s\")", d.msg);
  WT_CHECK(d.offset == 15, "it points just past the fifth byte, offset 15 (got %lld)",
           d.offset);

  /* 6 bytes: a continuation bit on the fifth */
  rc = check_sections(SECTIONS(0x01, 0x06, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00), &d);
  WT_CHECK(rc == WH_EMALFORMED, "a 6-byte u32 is malformed (got %s)", wh_errname(rc));
  WT_CHECK(strstr(d.msg, "integer representation too long") != NULL,
           "it says \"integer representation too long\" (got \"%s\")", d.msg);

  /* padded but in range: count 1 as 81 80 80 80 00, then (func) */
  rc = check_sections(SECTIONS(0x01, 0x08, 0x81, 0x80, 0x80, 0x80, 0x00, 0x60, 0x00, 0x00),
                      &d);
  WT_CHECK(rc == 0, "a padded 5-byte LEB128 in range is accepted (got %s: %s)",
           wh_errname(rc), d.msg);

  /* i32.const with a 5-byte signed LEB128 whose unused bits do not
   * follow the sign: (func (result i32) (i32.const <80 80 80 80 70>)) */
  rc = check_sections(SECTIONS(0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,
                               0x03, 0x02, 0x01, 0x00,
                               0x0a, 0x0a, 0x01, 0x08, 0x00, 0x41,
                               0x80, 0x80, 0x80, 0x80, 0x70, 0x0b), &d);
  WT_CHECK(rc == WH_EMALFORMED, "an s32 with bad sign bits is malformed (got %s)",
           wh_errname(rc));
  /* ... and with them right, -1 as ff ff ff ff 7f is fine */
  rc = check_sections(SECTIONS(0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,
                               0x03, 0x02, 0x01, 0x00,
                               0x0a, 0x0a, 0x01, 0x08, 0x00, 0x41,
                               0xff, 0xff, 0xff, 0xff, 0x7f, 0x0b), &d);
  WT_CHECK(rc == 0, "-1 as a padded s32 is accepted (got %s: %s)", wh_errname(rc), d.msg);
  /* 0x0f as the last byte: sign bit set, unused bits clear */
  rc = check_sections(SECTIONS(0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,
                               0x03, 0x02, 0x01, 0x00,
                               0x0a, 0x0a, 0x01, 0x08, 0x00, 0x41,
                               0xff, 0xff, 0xff, 0xff, 0x0f, 0x0b), &d);
  WT_CHECK(rc == WH_EMALFORMED, "an s32 with sign bit set but unused bits clear is "
           "malformed (got %s)", wh_errname(rc));
}

/* ---- counts and sizes ------------------------------------------------------ */

static void test_oversized_counts(void) {
  wh_diag_t d;
  bool hooked = wt_alloc_hooked();
  struct {
    const char *what;
    const uint8_t *bytes;
    size_t len;
  } cases[] = {
      /* type section claiming 2^31 types in 5 bytes */
      {"a type section claiming 2^31 entries",
       SECTIONS(0x01, 0x05, 0x80, 0x80, 0x80, 0x80, 0x08)},
      /* ... and 999999 (under the decoder's limit) */
      {"a type section claiming 999999 entries",
       SECTIONS(0x01, 0x04, 0xbf, 0x84, 0x3d, 0x60)},
      /* import section claiming 2^32-1 entries */
      {"an import section claiming 2^32-1 entries",
       SECTIONS(0x02, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f)},
      /* function section claiming 999999 functions */
      {"a function section claiming 999999 entries",
       SECTIONS(0x03, 0x04, 0xbf, 0x84, 0x3d, 0x00)},
      /* (memory 1) and a data segment claiming 2^32-1 bytes */
      {"a data segment claiming 2^32-1 bytes",
       SECTIONS(0x05, 0x03, 0x01, 0x00, 0x01,
                0x0b, 0x0a, 0x01, 0x00, 0x41, 0x00, 0x0b, 0xff, 0xff, 0xff, 0xff, 0x0f)},
      /* an element segment claiming 2^24 functions */
      {"an element segment claiming 2^24 entries",
       SECTIONS(0x04, 0x04, 0x01, 0x70, 0x00, 0x01,
                0x09, 0x09, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x80, 0x80, 0x80, 0x08)},
      /* a function declaring 2^32-1 i32 locals */
      {"a function declaring 2^32-1 locals",
       SECTIONS(0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                0x0a, 0x0a, 0x01, 0x08, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0x0b)},
      /* a br_table claiming 2^31 labels */
      {"a br_table claiming 2^31 labels",
       SECTIONS(0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                0x0a, 0x0e, 0x01, 0x0c, 0x00, 0x41, 0x00, 0x0e,
                0x80, 0x80, 0x80, 0x80, 0x08, 0x00, 0x0b, 0x0b)},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    wt_alloc_reset(0);
    int rc = check_sections(cases[i].bytes, cases[i].len, &d);
    wt_alloc_stats_t s = wt_alloc_stats();
    WT_CHECK(rc == WH_EMALFORMED || rc == WH_ELIMIT,
             "%s is a clean malformed/limit error (got %s: %s)", cases[i].what,
             wh_errname(rc), d.msg);
    if (hooked)
      WT_CHECK(s.largest < (1u << 20),
               "%s makes no allocation over 1 MiB (largest %zu bytes)", cases[i].what,
               s.largest);
  }
}

static void test_too_many_locals(void) {
  /* two groups of 2^31 locals: 2^32 in all (binary.wast: "too many locals") */
  wh_diag_t d;
  int rc = check_sections(SECTIONS(0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
                                   0x03, 0x02, 0x01, 0x00,
                                   0x0a, 0x10, 0x01, 0x0e, 0x02,
                                   0x80, 0x80, 0x80, 0x80, 0x08, 0x7f,
                                   0x80, 0x80, 0x80, 0x80, 0x08, 0x7e, 0x0b), &d);
  /* the spec calls this malformed; the decoder's own limit (50000) may
   * trip first, which is as clean */
  WT_CHECK(rc == WH_EMALFORMED || rc == WH_ELIMIT,
           "2^32 locals are malformed or over the limit (got %s)", wh_errname(rc));
  WT_CHECK(strstr(d.msg, "too many locals") != NULL,
           "the message says \"too many locals\" (got \"%s\")", d.msg);
}

static void test_sections_out_of_order(void) {
  wh_diag_t d;
  /* an empty function section, then a type section: 03 01 00 | 01 01 00 */
  int rc = check_sections(SECTIONS(0x03, 0x01, 0x00, 0x01, 0x01, 0x00), &d);
  WT_CHECK(rc == WH_EMALFORMED, "a type section after the function section is malformed "
           "(got %s)", wh_errname(rc));
  WT_CHECK(d.offset == 11, "the diagnostic points at the late section's id, offset 11 "
           "(got %lld)", d.offset);

  /* two type sections */
  rc = check_sections(SECTIONS(0x01, 0x01, 0x00, 0x01, 0x01, 0x00), &d);
  WT_CHECK(rc == WH_EMALFORMED, "a repeated type section is malformed (got %s)", wh_errname(rc));
  WT_CHECK(d.offset == 11, "it points at the second section's id, offset 11 (got %lld)",
           d.offset);

  /* data count (12) must come before code (10): code with 0 bodies, then 12 */
  rc = check_sections(SECTIONS(0x0a, 0x01, 0x00, 0x0c, 0x01, 0x00), &d);
  WT_CHECK(rc == WH_EMALFORMED, "a data count section after the code section is malformed "
           "(got %s)", wh_errname(rc));

  /* custom sections may go anywhere, repeatedly */
  rc = check_sections(SECTIONS(0x00, 0x02, 0x01, 'a', 0x01, 0x01, 0x00,
                               0x00, 0x03, 0x01, 'b', 0xff, 0x0a, 0x01, 0x00,
                               0x00, 0x01, 0x00), &d);
  WT_CHECK(rc == 0, "custom sections between others are accepted (got %s: %s)",
           wh_errname(rc), d.msg);

  /* an unknown section id */
  rc = check_sections(SECTIONS(0x0d, 0x00), &d);
  WT_CHECK(rc == WH_EMALFORMED, "section id 13 is malformed (got %s)", wh_errname(rc));
  WT_CHECK(d.offset == 8, "it points at the id byte, offset 8 (got %lld)", d.offset);
}

static void test_section_size_mismatch(void) {
  wh_diag_t d;
  /* type section of size 5 holding one 4-byte entry and a stray byte */
  int rc = check_sections(SECTIONS(0x01, 0x05, 0x01, 0x60, 0x00, 0x00, 0x00), &d);
  WT_CHECK(rc == WH_EMALFORMED, "a section longer than its contents is malformed (got %s)",
           wh_errname(rc));
  WT_CHECK(strstr(d.msg, "section size mismatch") != NULL,
           "it says \"section size mismatch\" (got \"%s\")", d.msg);
  WT_CHECK(d.offset == 14, "it points at the stray byte, offset 14 (got %lld)", d.offset);

  /* type section of size 3 whose entry needs 4 bytes */
  rc = check_sections(SECTIONS(0x01, 0x03, 0x01, 0x60, 0x00, 0x00), &d);
  WT_CHECK(rc == WH_EMALFORMED, "a section shorter than its contents is malformed (got %s)",
           wh_errname(rc));

  /* a size running past the end of the input */
  rc = check_sections(SECTIONS(0x01, 0x20, 0x01, 0x60, 0x00, 0x00), &d);
  WT_CHECK(rc == WH_EMALFORMED, "a section running past the input is malformed (got %s)",
           wh_errname(rc));
  WT_CHECK(d.offset == 8, "it points at that section's id, offset 8 (got %lld)", d.offset);

  /* a function body whose size leaves bytes after its end */
  rc = check_sections(SECTIONS(0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                               0x0a, 0x05, 0x01, 0x03, 0x00, 0x0b, 0x01), &d);
  WT_CHECK(rc == WH_EMALFORMED, "operators after a function's final end are malformed "
           "(got %s)", wh_errname(rc));
  /* a body without its end */
  rc = check_sections(SECTIONS(0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
                               0x0a, 0x04, 0x01, 0x02, 0x00, 0x01), &d);
  WT_CHECK(rc == WH_EMALFORMED, "a body without end is malformed (got %s)", wh_errname(rc));
}

static void test_function_code_mismatch(void) {
  const bad_case_t cases[] = {
      BAD("two functions and one body", WH_EMALFORMED, "inconsistent lengths",
          0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x00,
          0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b),
      BAD("a function and no code section", WH_EMALFORMED, "inconsistent lengths",
          0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00),
      BAD("a body and no function section", WH_EMALFORMED, "inconsistent lengths",
          0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b),
  };
  check_cases(cases, sizeof cases / sizeof *cases);
}

/* ---- indices ----------------------------------------------------------------- */

/* type section with (func) */
#define T0 0x01, 0x04, 0x01, 0x60, 0x00, 0x00
/* one function of type 0 */
#define F0 0x03, 0x02, 0x01, 0x00
/* code section with one body of n bytes (locals vec + expr) */
#define CODE1(n, ...) 0x0a, (n) + 2, 0x01, (n), __VA_ARGS__

static void test_index_out_of_range(void) {
  const bad_case_t cases[] = {
      /* (import "m" "f" (func (type 5))) */
      BAD("an import of an unknown type", WH_EINVALID, "unknown type 5",
          0x02, 0x07, 0x01, 0x01, 'm', 0x01, 'f', 0x00, 0x05),
      BAD("a function of an unknown type", WH_EINVALID, "unknown type 0", F0),
      BAD("an export of an unknown function", WH_EINVALID, "unknown function 3",
          0x07, 0x05, 0x01, 0x01, 'e', 0x00, 0x03),
      BAD("an export of an unknown table", WH_EINVALID, "unknown table 0",
          0x07, 0x05, 0x01, 0x01, 'e', 0x01, 0x00),
      BAD("an export of an unknown memory", WH_EINVALID, "unknown memory 0",
          0x07, 0x05, 0x01, 0x01, 'e', 0x02, 0x00),
      BAD("an export of an unknown global", WH_EINVALID, "unknown global 2",
          0x07, 0x05, 0x01, 0x01, 'e', 0x03, 0x02),
      BAD("a start function that does not exist", WH_EINVALID, "unknown function 5",
          0x08, 0x01, 0x05),
      /* elem segment kind 2 naming table 1 */
      BAD("an element segment for an unknown table", WH_EINVALID, "unknown table 1",
          0x09, 0x08, 0x01, 0x02, 0x01, 0x41, 0x00, 0x0b, 0x00, 0x00),
      /* (table 1 funcref) (elem (i32.const 0) 5) */
      BAD("an element naming an unknown function", WH_EINVALID, "unknown function 5",
          0x04, 0x04, 0x01, 0x70, 0x00, 0x01,
          0x09, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x05),
      /* (memory 1) (data (memory 1) (i32.const 0) "") */
      BAD("a data segment for an unknown memory", WH_EINVALID, "unknown memory 1",
          0x05, 0x03, 0x01, 0x00, 0x01,
          0x0b, 0x07, 0x01, 0x02, 0x01, 0x41, 0x00, 0x0b, 0x00),
      BAD("an active data segment without a memory", WH_EINVALID, "unknown memory 0",
          0x0b, 0x06, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x00),
      /* (global i32 (global.get 0)) with no globals before it */
      BAD("a global initialised from an unknown global", WH_EINVALID, "unknown global 0",
          0x06, 0x06, 0x01, 0x7f, 0x00, 0x23, 0x00, 0x0b),
      /* (global funcref (ref.func 4)) */
      BAD("a global initialised with an unknown function", WH_EINVALID, "unknown function 4",
          0x06, 0x06, 0x01, 0x70, 0x00, 0xd2, 0x04, 0x0b),
      BAD("a call to an unknown function", WH_EINVALID, "unknown function",
          T0, F0, CODE1(4, 0x00, 0x10, 0x05, 0x0b)),
      BAD("a call_indirect without a table", WH_EINVALID, "unknown table",
          T0, F0, CODE1(7, 0x00, 0x41, 0x00, 0x11, 0x00, 0x00, 0x0b)),
      BAD("a call_indirect of an unknown type", WH_EINVALID, "unknown type",
          T0, F0, 0x04, 0x04, 0x01, 0x70, 0x00, 0x01,
          CODE1(7, 0x00, 0x41, 0x00, 0x11, 0x09, 0x00, 0x0b)),
      BAD("a load without a memory", WH_EINVALID, "unknown memory 0",
          T0, F0, CODE1(8, 0x00, 0x41, 0x00, 0x28, 0x02, 0x00, 0x1a, 0x0b)),
      BAD("memory.size without a memory", WH_EINVALID, "unknown memory 0",
          T0, F0, CODE1(5, 0x00, 0x3f, 0x00, 0x1a, 0x0b)),
      BAD("a local.get of an unknown local", WH_EINVALID, "unknown local",
          T0, F0, CODE1(5, 0x00, 0x20, 0x03, 0x1a, 0x0b)),
      BAD("a global.get of an unknown global", WH_EINVALID, "unknown global",
          T0, F0, CODE1(5, 0x00, 0x23, 0x00, 0x1a, 0x0b)),
      BAD("a table.get of an unknown table", WH_EINVALID, "unknown table",
          T0, F0, CODE1(7, 0x00, 0x41, 0x00, 0x25, 0x00, 0x1a, 0x0b)),
      BAD("a ref.func of an unknown function", WH_EINVALID, "unknown function",
          T0, F0, CODE1(5, 0x00, 0xd2, 0x07, 0x1a, 0x0b)),
      BAD("a data.drop of an unknown segment", WH_EINVALID, "unknown data segment",
          T0, F0, 0x0c, 0x01, 0x00, CODE1(5, 0x00, 0xfc, 0x09, 0x00, 0x0b)),
      BAD("an elem.drop of an unknown segment", WH_EINVALID, "unknown elem segment",
          T0, F0, CODE1(5, 0x00, 0xfc, 0x0d, 0x00, 0x0b)),
      BAD("a block of an unknown type", WH_EINVALID, "unknown type",
          T0, F0, CODE1(5, 0x00, 0x02, 0x05, 0x0b, 0x0b)),
  };
  check_cases(cases, sizeof cases / sizeof *cases);
}

/* ---- names, limits, kinds -------------------------------------------------- */

static void test_bad_utf8_names(void) {
  static const struct {
    const char *what, *name;
  } bad[] = {
      {"a lone 0xff byte", "\xff"},
      {"an overlong NUL (c0 80)", "\xc0\x80"},
      {"an overlong slash (e0 80 af)", "\xe0\x80\xaf"},
      {"a UTF-16 surrogate (ed a0 80)", "\xed\xa0\x80"},
      {"a code point above U+10FFFF (f4 90 80 80)", "\xf4\x90\x80\x80"},
      {"a sequence cut short (e2 82)", "\xe2\x82"},
      {"a stray continuation byte (80)", "a\x80"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    for (int where = 0; where < 3; where++) {
      wb_mod_t m;
      wb_init(&m);
      if (where == 0) {
        uint32_t f = wb_func(&m, "", "", "", CODE(NOP));
        wb_export(&m, bad[i].name, WH_EXTERN_FUNC, f);
      } else if (where == 1) {
        wb_import_func(&m, bad[i].name, "f", "", "");
      } else {
        wb_custom(&m, bad[i].name, "x", 1);
      }
      size_t len;
      const uint8_t *b = wb_bytes(&m, &len);
      wh_diag_t d;
      int rc = wt_compile(b, len, &d);
      static const char *const place[] = {"an export name", "an import module name",
                                          "a custom section name"};
      WT_CHECK(rc == WH_EMALFORMED && strstr(d.msg, "malformed UTF-8") != NULL,
               "%s with %s is malformed UTF-8 (got %s: %s)", place[where], bad[i].what,
               wh_errname(rc), d.msg);
      wb_fini(&m);
    }
  }
  /* good ones: the euro sign, a 4-byte emoji, the empty name */
  static const char *const good[] = {"\xe2\x82\xac", "\xf0\x9f\x98\x80", ""};
  for (size_t i = 0; i < 3; i++) {
    wb_mod_t m;
    wb_init(&m);
    uint32_t f = wb_func(&m, "", "", "", CODE(NOP));
    wb_export(&m, good[i], WH_EXTERN_FUNC, f);
    size_t len;
    const uint8_t *b = wb_bytes(&m, &len);
    wh_diag_t d;
    int rc = wt_compile(b, len, &d);
    WT_CHECK(rc == 0, "export name %zu (valid UTF-8) is accepted (got %s: %s)", i,
             wh_errname(rc), d.msg);
    wb_fini(&m);
  }
}

static void test_bad_limits(void) {
  const bad_case_t cases[] = {
      BAD("memory limits flags 0x04", WH_EMALFORMED, "", 0x05, 0x03, 0x01, 0x04, 0x01),
      BAD("memory limits flags 0x80 (a LEB128 continuation)", WH_EMALFORMED, "",
          0x05, 0x04, 0x01, 0x80, 0x00, 0x01),
      BAD("table limits flags 0x02", WH_EMALFORMED, "", 0x04, 0x04, 0x01, 0x70, 0x02, 0x01),
      /* flags 2 and 3 (shared) belong to the threads proposal: malformed
       * in 2.0 (docs/ENGINE.md) */
      BAD("a shared memory (flags 0x03)", WH_EMALFORMED, "",
          0x05, 0x04, 0x01, 0x03, 0x01, 0x01),
      BAD("memory limits flags 0x02", WH_EMALFORMED, "", 0x05, 0x03, 0x01, 0x02, 0x01),
      BAD("a memory of 65537 pages", WH_EINVALID, "at most 65536 pages",
          0x05, 0x05, 0x01, 0x00, 0x81, 0x80, 0x04),
      BAD("a memory with max 65537 pages", WH_EINVALID, "at most 65536 pages",
          0x05, 0x06, 0x01, 0x01, 0x00, 0x81, 0x80, 0x04),
      BAD("a memory with min 2 > max 1", WH_EINVALID, "minimum must not be greater",
          0x05, 0x04, 0x01, 0x01, 0x02, 0x01),
      BAD("a table with min 2 > max 1", WH_EINVALID, "minimum must not be greater",
          0x04, 0x05, 0x01, 0x70, 0x01, 0x02, 0x01),
      BAD("an imported memory with min 2 > max 1", WH_EINVALID, "minimum must not be greater",
          0x02, 0x09, 0x01, 0x01, 'm', 0x01, 'm', 0x02, 0x01, 0x02, 0x01),
      /* multi-memory: two memories are fine (test_compile.c), 101 are
       * over WH_MAX_MEMORIES; the count is refused before the entries */
      BAD("101 memories", WH_ELIMIT, "too many memories", 0x05, 0x01, 0x65),
      BAD("a table of i32", WH_EMALFORMED, "", 0x04, 0x04, 0x01, 0x7f, 0x00, 0x01),
  };
  check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_imported_table_limits_are_validated(void) {
  /* (import "m" "t" (table 2 1 funcref)): table.wast checks min <= max
   * for defined tables only, but the rule is the same for imports */
  const bad_case_t cases[] = {
      BAD("an imported table with min 2 > max 1", WH_EINVALID, "minimum must not be greater",
          0x02, 0x0a, 0x01, 0x01, 'm', 0x01, 't', 0x01, 0x70, 0x01, 0x02, 0x01),
  };
  check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_bad_kinds(void) {
  const bad_case_t cases[] = {
      BAD("import kind 4", WH_EMALFORMED, "import kind",
          0x02, 0x06, 0x01, 0x01, 'm', 0x01, 'x', 0x04),
      BAD("export kind 4", WH_EMALFORMED, "export kind",
          0x07, 0x05, 0x01, 0x01, 'e', 0x04, 0x00),
      BAD("global mutability 2", WH_EMALFORMED, "mutability",
          0x06, 0x06, 0x01, 0x7f, 0x02, 0x41, 0x00, 0x0b),
      BAD("value type 0x7a in a function type", WH_EMALFORMED, "value type",
          0x01, 0x05, 0x01, 0x60, 0x01, 0x7a, 0x00),
      BAD("function type form 0x61", WH_EMALFORMED, "",
          0x01, 0x04, 0x01, 0x61, 0x00, 0x00),
      BAD("element segment kind 8", WH_EMALFORMED, "elements segment kind",
          0x09, 0x02, 0x01, 0x08),
      BAD("data segment kind 3", WH_EMALFORMED, "data segment kind",
          0x0b, 0x02, 0x01, 0x03),
      BAD("a duplicate export name", WH_EINVALID, "duplicate export name",
          T0, F0, 0x07, 0x09, 0x02, 0x01, 'a', 0x00, 0x00, 0x01, 'a', 0x00, 0x00,
          CODE1(2, 0x00, 0x0b)),
      /* start function of type (param i32) */
      BAD("a start function taking a parameter", WH_EINVALID, "start function",
          0x01, 0x05, 0x01, 0x60, 0x01, 0x7f, 0x00, F0, 0x08, 0x01, 0x00,
          CODE1(2, 0x00, 0x0b)),
      /* (global i32 (i32.const 1) (i32.add)) */
      BAD("a global initialised with an i32.add", WH_EINVALID, "constant expression required",
          0x06, 0x07, 0x01, 0x7f, 0x00, 0x41, 0x01, 0x6a, 0x0b),
      BAD("a global initialised by local.get", WH_EINVALID, "constant expression required",
          0x06, 0x06, 0x01, 0x7f, 0x00, 0x20, 0x00, 0x0b),
      BAD("an i32 global initialised by an i64", WH_EINVALID, "type mismatch",
          0x06, 0x06, 0x01, 0x7f, 0x00, 0x42, 0x00, 0x0b),
      BAD("a global initialised from a mutable import", WH_EINVALID,
          "constant expression required",
          0x02, 0x08, 0x01, 0x01, 'm', 0x01, 'g', 0x03, 0x7f, 0x01,
          0x06, 0x06, 0x01, 0x7f, 0x00, 0x23, 0x00, 0x0b),
      BAD("an illegal opcode 0xff", WH_EMALFORMED, "illegal opcode",
          T0, F0, CODE1(3, 0x00, 0xff, 0x0b)),
      BAD("an illegal 0xfc sub-opcode 18", WH_EMALFORMED, "illegal opcode",
          T0, F0, CODE1(4, 0x00, 0xfc, 0x12, 0x0b)),
  };
  check_cases(cases, sizeof cases / sizeof *cases);
}

/* ---- data count ---------------------------------------------------------- */

static void test_data_count(void) {
  const bad_case_t cases[] = {
      /* datacount 2, one passive segment */
      BAD("a data count of 2 with one segment", WH_EMALFORMED,
          "data count and data section have inconsistent lengths",
          0x0c, 0x01, 0x02, 0x0b, 0x03, 0x01, 0x01, 0x00),
      /* datacount 0, one passive segment */
      BAD("a data count of 0 with one segment", WH_EMALFORMED,
          "data count and data section have inconsistent lengths",
          0x0c, 0x01, 0x00, 0x0b, 0x03, 0x01, 0x01, 0x00),
      /* memory.init without a data count section */
      BAD("memory.init without a data count section", WH_EMALFORMED,
          "data count section required",
          T0, F0, 0x05, 0x03, 0x01, 0x00, 0x01,
          CODE1(12, 0x00, 0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x08, 0x00, 0x00, 0x0b),
          0x0b, 0x03, 0x01, 0x01, 0x00),
  };
  check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_data_count_without_data_section(void) {
  /* (memory 1) and a data count of 1, but no data section: the count
   * must equal the number of segments, which is 0 */
  const bad_case_t cases[] = {
      BAD("a data count of 1 without a data section", WH_EMALFORMED,
          "data count and data section have inconsistent lengths",
          0x05, 0x03, 0x01, 0x00, 0x01, 0x0c, 0x01, 0x01),
  };
  check_cases(cases, sizeof cases / sizeof *cases);
}

/* ---- SIMD ------------------------------------------------------------------- */

static void test_simd_unsupported(void) {
  const bad_case_t cases[] = {
      BAD("a v128 parameter", WH_EUNSUPPORTED, "SIMD", 0x01, 0x05, 0x01, 0x60, 0x01, 0x7b, 0x00),
      BAD("a v128 global", WH_EUNSUPPORTED, "SIMD",
          0x06, 0x16, 0x01, 0x7b, 0x00, 0xfd, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
          0, 0x0b),
      BAD("a v128 local", WH_EUNSUPPORTED, "SIMD", T0, F0, CODE1(4, 0x01, 0x01, 0x7b, 0x0b)),
      /* v128.const in a body */
      BAD("a v128.const", WH_EUNSUPPORTED, "SIMD",
          T0, F0, CODE1(21, 0x00, 0xfd, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                        0x1a, 0x0b)),
      BAD("a v128 block type", WH_EUNSUPPORTED, "SIMD", T0, F0, CODE1(5, 0x00, 0x02, 0x7b,
                                                                   0x0b, 0x0b)),
  };
  check_cases(cases, sizeof cases / sizeof *cases);
}

/* ---- offsets ------------------------------------------------------------------ */

static void test_diag_offsets(void) {
  wh_diag_t d;
  /* type section: 01 05 01 60 01 7a 00; the 0x7a is at 8+5 = 13 */
  int rc = check_sections(SECTIONS(0x01, 0x05, 0x01, 0x60, 0x01, 0x7a, 0x00), &d);
  WT_CHECK(rc == WH_EMALFORMED && d.offset == 13,
           "a bad value type is reported at its own byte, offset 13 (got %s at %lld)",
           wh_errname(rc), d.offset);

  /* T0 (6 bytes) F0 (4) then code: 0a 05 01 03 00 ff 0b; 0xff at 8+6+4+5 = 23 */
  rc = check_sections(SECTIONS(T0, F0, 0x0a, 0x05, 0x01, 0x03, 0x00, 0xff, 0x0b), &d);
  WT_CHECK(rc == WH_EMALFORMED && d.offset == 23,
           "an illegal opcode is reported at its own byte, offset 23 (got %s at %lld)",
           wh_errname(rc), d.offset);

  /* export kind 4: 07 05 01 01 65 04 00 */
  rc = check_sections(SECTIONS(0x02, 0x06, 0x01, 0x01, 'm', 0x01, 'x', 0x04), &d);
  WT_CHECK(rc == WH_EMALFORMED && d.offset == 15,
           "a bad import kind is reported at its byte, offset 15 (got %s at %lld)",
           wh_errname(rc), d.offset);

  /* a SIMD prefix in a body: 0xfd at offset 23 as above */
  rc = check_sections(SECTIONS(T0, F0, 0x0a, 0x05, 0x01, 0x03, 0x00, 0xfd, 0x0b), &d);
  WT_CHECK(rc == WH_EUNSUPPORTED, "a 0xfd prefix is unsupported (got %s)", wh_errname(rc));
  WT_CHECK(d.offset >= 23 && d.offset <= 25,
           "an unsupported SIMD opcode is reported at or just after its prefix byte 23 "
           "(got %lld)", d.offset);

  /* the offset is into the whole input, not the section: a validation
   * error in the second of two bodies lands inside that body */
  rc = check_sections(SECTIONS(T0, 0x03, 0x03, 0x02, 0x00, 0x00,
                               0x0a, 0x07, 0x02, 0x02, 0x00, 0x0b,
                               0x02, 0x00, 0x6a), &d);
  /* the second body (00 6a) is at bytes 26..27, its size byte at 25 */
  WT_CHECK(rc == WH_EINVALID && d.offset >= 26 && d.offset <= 28,
           "an error in the second body points inside it, 26..28 (got %s at %lld)",
           wh_errname(rc), d.offset);
}

static void test_name_section(void) {
  wh_diag_t d;
  /* a malformed name section is ignored (the spec lets it be) */
  static const uint8_t junk[] = {0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x07};
  wb_mod_t m;
  wb_init(&m);
  wb_func(&m, "", "", "", CODE(NOP));
  wb_custom(&m, "name", junk, sizeof junk);
  size_t len;
  const uint8_t *b = wb_bytes(&m, &len);
  int rc = wt_compile(b, len, &d);
  WT_CHECK(rc == 0, "a malformed name section does not reject the module (got %s: %s)",
           wh_errname(rc), d.msg);
  wb_fini(&m);

  /* a custom section whose name length runs past the section */
  rc = check_sections(SECTIONS(0x00, 0x02, 0x05, 'a'), &d);
  WT_CHECK(rc == WH_EMALFORMED, "a custom section name longer than the section is "
           "malformed (got %s)", wh_errname(rc));
}

static void test_accepts_full_module(void) {
  wb_mod_t m;
  build_full(&m);
  size_t len;
  const uint8_t *b = wb_bytes(&m, &len);
  wh_engine_t *e = wh_engine_new(NULL);
  wh_diag_t d;
  wh_module_t *mod = wh_module_new(e, b, len, &d);
  WT_CHECK(mod != NULL, "the module touching every section compiles (%s)", d.msg);
  if (mod) {
    WT_CHECK(wh_module_import_count(mod) == 1, "it has one import");
    const char *im, *in;
    wh_externkind_t kind;
    wh_module_import(mod, 0, &im, &in, &kind);
    WT_CHECK(strcmp(im, "env") == 0 && strcmp(in, "f") == 0 && kind == WH_EXTERN_FUNC,
             "the import is env.f, a function (got %s.%s kind %d)", im, in, kind);
    WT_CHECK(wh_module_export_count(mod) == 2, "it has two exports");
    const char *p, *r;
    int rc = wh_module_export_functype(mod, "run", &p, &r);
    WT_CHECK(rc == 0 && strcmp(p, "i") == 0 && strcmp(r, "i") == 0,
             "export run has type (i) -> (i)");
    WT_CHECK(wh_module_export_functype(mod, "mem", &p, &r) == WH_ENOTFOUND,
             "export mem is not a function");
    WT_CHECK(wh_module_import(mod, 1, &im, &in, &kind) == WH_ENOTFOUND,
             "there is no second import");
  }
  wh_module_free(mod);
  wh_engine_free(e);
  wb_fini(&m);
}

CU_TestInfo wt_tests_decode[] = {
    {"a bad magic is malformed at offset 0", test_bad_magic},
    {"a bad version is malformed at offset 4", test_bad_version},
    {"a component header is named as a component", test_component_header},
    {"the header alone is a module", test_empty_module},
    {"a module touching every section is accepted", test_accepts_full_module},
    {"every truncation is malformed, never a crash", test_truncated_everywhere},
    {"a truncated LEB128 is malformed", test_leb_truncated},
    {"overlong and out-of-range LEB128 are malformed", test_leb_overlong},
    {"huge counts fail cleanly without huge allocations", test_oversized_counts},
    {"2^32 locals are too many", test_too_many_locals},
    {"sections out of order or repeated are malformed", test_sections_out_of_order},
    {"section sizes must match their contents", test_section_size_mismatch},
    {"function and code counts must agree", test_function_code_mismatch},
    {"out-of-range indices are invalid in every section", test_index_out_of_range},
    {"names must be valid UTF-8", test_bad_utf8_names},
    {"bad limits are rejected", test_bad_limits},
    {"imported table limits are validated", test_imported_table_limits_are_validated},
    {"bad kinds, types and constant expressions are rejected", test_bad_kinds},
    {"the data count must match the data section", test_data_count},
    {"a data count without a data section is malformed", test_data_count_without_data_section},
    {"SIMD is unsupported, not malformed", test_simd_unsupported},
    {"diagnostics point at the offending byte", test_diag_offsets},
    {"the name section is advisory", test_name_section},
    CU_TEST_INFO_NULL,
};
