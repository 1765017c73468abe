/*
 * reader.h - a bounds-checked cursor over wasm bytes, shared by the decoder
 * and the function compiler.  Every read checks the remaining length; the
 * first failure records a WH_EMALFORMED diagnostic with the byte offset and
 * every later read fails too, so callers may check once after a group of
 * reads.
 */
#ifndef WH_READER_H
#define WH_READER_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "wh_error.h"

typedef struct wh_reader {
  const uint8_t *base;    /* start of the whole binary (offsets) */
  const uint8_t *p, *end;
  wh_diag_t *diag;
  bool failed;
} wh_reader_t;

static inline long long wh_rd_off(const wh_reader_t *r) {
  return (long long)(r->p - r->base);
}

int wh_rd_fail(wh_reader_t *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline bool wh_rd_eof(const wh_reader_t *r) { return r->p >= r->end; }

static inline uint8_t wh_rd_u8(wh_reader_t *r) {
  if (r->failed) return 0;
  if (r->p >= r->end) {
    wh_rd_fail(r, WH_EMALFORMED, "unexpected end");
    return 0;
  }
  return *r->p++;
}

/* Unsigned LEB128 of at most `bits` bits. */
static inline uint64_t wh_rd_uleb(wh_reader_t *r, unsigned bits) {
  uint64_t v = 0;
  unsigned shift = 0;
  if (r->failed) return 0;
  for (;;) {
    if (r->p >= r->end) {
      wh_rd_fail(r, WH_EMALFORMED, "unexpected end");
      return 0;
    }
    uint8_t b = *r->p++;
    if (shift + 7 >= bits && shift < 64) {
      /* last permitted byte: no continuation, unused bits zero */
      unsigned used = bits - shift;
      if ((b & 0x80) || (used < 7 && (b & 0x7f) >> used)) {
        wh_rd_fail(r, WH_EMALFORMED,
                   (b & 0x80) ? "integer representation too long"
                              : "integer too large");
        return 0;
      }
      return v | ((uint64_t)b << shift);
    }
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
    shift += 7;
  }
}

/* Signed LEB128 of at most `bits` bits, sign-extended to 64. */
static inline int64_t wh_rd_sleb(wh_reader_t *r, unsigned bits) {
  uint64_t v = 0;
  unsigned shift = 0;
  if (r->failed) return 0;
  for (;;) {
    if (r->p >= r->end) {
      wh_rd_fail(r, WH_EMALFORMED, "unexpected end");
      return 0;
    }
    uint8_t b = *r->p++;
    if (shift + 7 >= bits) {
      /* last permitted byte: unused bits must replicate the sign bit */
      unsigned used = bits - shift;   /* 1..7 bits carry value */
      if (b & 0x80) {
        wh_rd_fail(r, WH_EMALFORMED, "integer representation too long");
        return 0;
      }
      int8_t sb = (int8_t)(b << 1) >> 1;  /* sign-extend 7 bits */
      int64_t rest = sb >> (used - 1);    /* sign bit and unused bits */
      if (rest != 0 && rest != -1) {
        wh_rd_fail(r, WH_EMALFORMED, "integer too large");
        return 0;
      }
      v |= (uint64_t)(b & 0x7f) << shift;
      shift += 7;
      if (shift < 64 && (b & 0x40)) v |= ~(uint64_t)0 << shift;
      return (int64_t)v;
    }
    v |= (uint64_t)(b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) {
      if (shift < 64 && (b & 0x40)) v |= ~(uint64_t)0 << shift;
      return (int64_t)v;
    }
  }
}

static inline uint32_t wh_rd_u32(wh_reader_t *r) {
  return (uint32_t)wh_rd_uleb(r, 32);
}

static inline const uint8_t *wh_rd_bytes(wh_reader_t *r, uint64_t n) {
  if (r->failed) return NULL;
  if ((uint64_t)(r->end - r->p) < n) {
    wh_rd_fail(r, WH_EMALFORMED, "unexpected end of section or function");
    return NULL;
  }
  const uint8_t *q = r->p;
  r->p += n;
  return q;
}

static inline uint32_t wh_rd_fixed32(wh_reader_t *r) {
  const uint8_t *q = wh_rd_bytes(r, 4);
  uint32_t v = 0;
  if (q) memcpy(&v, q, 4);
  return v;
}

static inline uint64_t wh_rd_fixed64(wh_reader_t *r) {
  const uint8_t *q = wh_rd_bytes(r, 8);
  uint64_t v = 0;
  if (q) memcpy(&v, q, 8);
  return v;
}

/* Checks that a byte string is valid UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
bool wh_utf8_valid(const uint8_t *s, size_t n);

#endif /* WH_READER_H */
