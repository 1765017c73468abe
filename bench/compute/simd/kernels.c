/*
 * kernels.c - SIMD compute kernels for bench/compute/simd/run.sh.
 *
 * One source, three builds, one algorithm:
 *   wasm   clang --target=wasm32 -msimd128: wasm_simd128.h intrinsics
 *          (what wharf's interpreter and node's V8 run)
 *   sse    gcc -O2 -msse4.1: the same steps with SSE intrinsics
 *   c      gcc -O2 -DKERNELS_PORTABLE: the same steps as plain loops
 *          over four lanes (which gcc may vectorise by itself)
 * The lanes are combined in the same order everywhere, so each kernel's
 * checksum is bit-identical across builds; run.sh checks that.
 *
 * Exports (all take a repetition count and return an i32 checksum; none
 * needs a libc or an import):
 *   bench_dot    f32 dot product of two 4096-float arrays (f32x4 mul/add)
 *   bench_count  occurrences of a byte in 64 KiB (i8x16.eq, i8x16.sub,
 *                extadd_pairwise to flush the 8-bit counters)
 *   bench_gray   RGBA to 8-bit luma, 4096 pixels (i32x4 shifts, and, mul,
 *                add; narrowing i32 -> i16 -> u8)
 * Each repetition shifts its input a little, so no build can hoist the
 * work out of the repetition loop.
 */
#include <stdint.h>

#if defined(__wasm_simd128__) && !defined(KERNELS_PORTABLE)
#include <wasm_simd128.h>
#define K_WASM 1
#elif defined(__SSE4_1__) && !defined(KERNELS_PORTABLE)
#include <smmintrin.h>
#define K_SSE 1
#endif

#if defined(__wasm__)
#define EXPORT(name) __attribute__((export_name(#name)))
#else
#define EXPORT(name)
#endif

#define NF 4096         /* floats per dot operand */
#define NB 65536        /* bytes counted */
#define NP 4096         /* pixels converted */

static float fa[NF + 16], fb[NF + 16];
static uint8_t bytes[NB];
static uint32_t pixels[NP + 16];
static uint8_t luma[NP];
static int ready;

/* deterministic inputs (a 32-bit LCG), filled on the first call */
static void init(void) {
  if (ready) return;
  uint32_t s = 12345;
  for (int i = 0; i < NF + 16; i++) {
    s = s * 1664525u + 1013904223u;
    fa[i] = (float)((int32_t)(s >> 8) % 2000) / 1000.0f;
    s = s * 1664525u + 1013904223u;
    fb[i] = (float)((int32_t)(s >> 8) % 2000) / 1000.0f;
  }
  for (int i = 0; i < NB; i++) {
    s = s * 1664525u + 1013904223u;
    bytes[i] = (uint8_t)(s >> 24);
  }
  for (int i = 0; i < NP + 16; i++) {
    s = s * 1664525u + 1013904223u;
    pixels[i] = s;
  }
  ready = 1;
}

static uint32_t f32_bits(float f) {
  union { float f; uint32_t u; } c = {f};
  return c.u;
}

/* ---- dot product: four lane sums, combined (l0 + l1) + (l2 + l3) ----- */

static float dot(const float *a, const float *b, int n) {
#if K_WASM
  v128_t acc = wasm_f32x4_splat(0.0f);
  for (int i = 0; i < n; i += 4)
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  return (wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1)) +
         (wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3));
#elif K_SSE
  __m128 acc = _mm_setzero_ps();
  for (int i = 0; i < n; i += 4)
    acc = _mm_add_ps(acc, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
  float l[4];
  _mm_storeu_ps(l, acc);
  return (l[0] + l[1]) + (l[2] + l[3]);
#else
  float l[4] = {0, 0, 0, 0};
  for (int i = 0; i < n; i += 4)
    for (int j = 0; j < 4; j++) l[j] += a[i + j] * b[i + j];
  return (l[0] + l[1]) + (l[2] + l[3]);
#endif
}

EXPORT(bench_dot) int32_t bench_dot(int32_t reps) {
  init();
  float total = 0.0f;
  for (int32_t r = 0; r < reps; r++) total += dot(fa + (r & 15), fb, NF);
  return (int32_t)f32_bits(total);
}

/* ---- byte count: 8-bit counters flushed every 255 vectors ------------ */

static uint32_t count(const uint8_t *p, int n, uint8_t c) {
  uint32_t total = 0;
#if K_WASM
  v128_t needle = wasm_i8x16_splat((int8_t)c);
  for (int i = 0; i < n;) {
    v128_t acc = wasm_i8x16_splat(0);
    int end = i + 255 * 16 < n ? i + 255 * 16 : n;
    for (; i < end; i += 16)   /* a match is -1: subtracting counts it */
      acc = wasm_i8x16_sub(acc, wasm_i8x16_eq(wasm_v128_load(p + i), needle));
    v128_t s = wasm_i32x4_extadd_pairwise_i16x8(wasm_u16x8_extadd_pairwise_u8x16(acc));
    total += (uint32_t)(wasm_i32x4_extract_lane(s, 0) + wasm_i32x4_extract_lane(s, 1) +
                        wasm_i32x4_extract_lane(s, 2) + wasm_i32x4_extract_lane(s, 3));
  }
#elif K_SSE
  __m128i needle = _mm_set1_epi8((char)c), zero = _mm_setzero_si128();
  for (int i = 0; i < n;) {
    __m128i acc = zero;
    int end = i + 255 * 16 < n ? i + 255 * 16 : n;
    for (; i < end; i += 16)
      acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i)), needle));
    __m128i s = _mm_sad_epu8(acc, zero);   /* two 64-bit sums of 8 bytes */
    total += (uint32_t)(_mm_cvtsi128_si32(s) + _mm_extract_epi16(s, 4));
  }
#else
  for (int i = 0; i < n;) {
    uint8_t acc[16] = {0};
    int end = i + 255 * 16 < n ? i + 255 * 16 : n;
    for (; i < end; i += 16)
      for (int j = 0; j < 16; j++) acc[j] = (uint8_t)(acc[j] + (p[i + j] == c));
    for (int j = 0; j < 16; j++) total += acc[j];
  }
#endif
  return total;
}

EXPORT(bench_count) int32_t bench_count(int32_t reps) {
  init();
  uint32_t total = 0;
  for (int32_t r = 0; r < reps; r++) total += count(bytes, NB, (uint8_t)r) * (uint32_t)(r + 1);
  return (int32_t)total;
}

/* ---- RGBA -> luma: y = (77 r + 150 g + 29 b) >> 8, 16 pixels a step --- */

static void gray(const uint32_t *px, uint8_t *out, int n) {
#if K_WASM
  v128_t m = wasm_i32x4_splat(0xff);
  v128_t kr = wasm_i32x4_splat(77), kg = wasm_i32x4_splat(150), kb = wasm_i32x4_splat(29);
  for (int i = 0; i < n; i += 16) {
    v128_t y[4];
    for (int k = 0; k < 4; k++) {
      v128_t v = wasm_v128_load(px + i + 4 * k);
      v128_t r = wasm_v128_and(v, m);
      v128_t g = wasm_v128_and(wasm_u32x4_shr(v, 8), m);
      v128_t b = wasm_v128_and(wasm_u32x4_shr(v, 16), m);
      v128_t s = wasm_i32x4_add(wasm_i32x4_add(wasm_i32x4_mul(r, kr), wasm_i32x4_mul(g, kg)),
                                wasm_i32x4_mul(b, kb));
      y[k] = wasm_u32x4_shr(s, 8);
    }
    v128_t lo = wasm_u16x8_narrow_i32x4(y[0], y[1]), hi = wasm_u16x8_narrow_i32x4(y[2], y[3]);
    wasm_v128_store(out + i, wasm_u8x16_narrow_i16x8(lo, hi));
  }
#elif K_SSE
  __m128i m = _mm_set1_epi32(0xff);
  __m128i kr = _mm_set1_epi32(77), kg = _mm_set1_epi32(150), kb = _mm_set1_epi32(29);
  for (int i = 0; i < n; i += 16) {
    __m128i y[4];
    for (int k = 0; k < 4; k++) {
      __m128i v = _mm_loadu_si128((const __m128i *)(px + i + 4 * k));
      __m128i r = _mm_and_si128(v, m);
      __m128i g = _mm_and_si128(_mm_srli_epi32(v, 8), m);
      __m128i b = _mm_and_si128(_mm_srli_epi32(v, 16), m);
      __m128i s = _mm_add_epi32(_mm_add_epi32(_mm_mullo_epi32(r, kr), _mm_mullo_epi32(g, kg)),
                                _mm_mullo_epi32(b, kb));
      y[k] = _mm_srli_epi32(s, 8);
    }
    __m128i lo = _mm_packus_epi32(y[0], y[1]), hi = _mm_packus_epi32(y[2], y[3]);
    _mm_storeu_si128((__m128i *)(out + i), _mm_packus_epi16(lo, hi));
  }
#else
  for (int i = 0; i < n; i++) {
    uint32_t v = px[i];
    out[i] = (uint8_t)((77 * (v & 0xff) + 150 * ((v >> 8) & 0xff) + 29 * ((v >> 16) & 0xff)) >> 8);
  }
#endif
}

EXPORT(bench_gray) int32_t bench_gray(int32_t reps) {
  init();
  uint32_t total = 0;
  for (int32_t r = 0; r < reps; r++) {
    gray(pixels + (r & 15), luma, NP);
    total = total * 31u + luma[(uint32_t)r * 2654435761u % NP];
  }
  for (int i = 0; i < NP; i++) total += luma[i];
  return (int32_t)total;
}

#if !defined(__wasm__)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* native driver: kernels-<build> NAME REPS prints the export's result */
int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s bench_dot|bench_count|bench_gray REPS\n", argv[0]);
    return 2;
  }
  int32_t reps = (int32_t)atoi(argv[2]);
  int32_t r;
  if (strcmp(argv[1], "bench_dot") == 0) r = bench_dot(reps);
  else if (strcmp(argv[1], "bench_count") == 0) r = bench_count(reps);
  else if (strcmp(argv[1], "bench_gray") == 0) r = bench_gray(reps);
  else {
    fprintf(stderr, "%s: no kernel %s\n", argv[0], argv[1]);
    return 2;
  }
  printf("%d\n", r);
  return 0;
}
#endif
