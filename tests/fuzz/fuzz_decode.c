/*
 * fuzz_decode.c - fuzz target for wh_module_new (decode + validate +
 * compile) on arbitrary bytes, and for the compiled-module blob.
 *
 *   input --wh_module_new--> NULL: the diag must be one of the documented
 *                                  codes, with a message and an offset
 *                                  inside the input
 *                        \-> module: list imports and exports, then
 *     serialize -> deserialize -> serialize: the two blobs must be equal
 *     truncate the blob: deserialize must say WH_ECORRUPT
 *     flip 1-4 payload bytes (positions and values from a hash of the
 *     input), fix the SHA-256 so the loader's own checks are what stands
 *     between the bytes and the engine: deserialize may accept or refuse,
 *     but must not crash or leak
 *
 * Blob layout (engine/serialize.c): magic(8) version(4) F(4) fingerprint(F)
 * P(8) sha256(32) payload(P).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fuzz.h"
#include "wh_engine.h"

static wh_engine_t *engine;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  engine = wh_engine_new(NULL);
  if (!engine) fuzz_fail("wh_engine_new failed");
  return 0;
}

static uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static uint64_t next_rand(uint64_t *s) {   /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void check_diag(const wh_diag_t *d, size_t len, bool blob) {
  if (memchr(d->msg, '\0', sizeof d->msg) == NULL)
    fuzz_fail("diag message is not NUL-terminated");
  if (blob) {
    if (d->code != WH_ECORRUPT && d->code != WH_ENOMEM)
      fuzz_fail("deserialize failed with %s, not WH_ECORRUPT", wh_errname(d->code));
    return;
  }
  switch (d->code) {
  case WH_EMALFORMED: case WH_EINVALID: case WH_ECOMPONENT:
  case WH_EUNSUPPORTED: case WH_ENOMEM: case WH_ELIMIT:
    break;
  default:
    fuzz_fail("wh_module_new failed with undocumented code %d (%s): %s",
              d->code, wh_errname(d->code), d->msg);
  }
  if (d->msg[0] == '\0') fuzz_fail("wh_module_new failed (%s) without a message",
                                   wh_errname(d->code));
  if (d->offset < -1 || (d->offset >= 0 && (size_t)d->offset > len))
    fuzz_fail("diag offset %lld outside the %zu-byte input (%s: %s)", d->offset,
              len, wh_errname(d->code), d->msg);
}

static void check_sig(const char *s, const char *what) {
  if (!s) fuzz_fail("%s signature is NULL", what);
  for (; *s; s++)
    if (!strchr("iIfFre", *s)) fuzz_fail("%s signature has type character '%c'", what, *s);
}

/* Walks the module's import and export listings; returns a digest of them
 * so that a deserialized copy can be compared with the original. */
static uint64_t list_externs(const wh_module_t *m) {
  uint64_t h = 0;
  uint32_t n = wh_module_import_count(m);
  for (uint32_t i = 0; i < n; i++) {
    const char *mod = NULL, *name = NULL;
    wh_externkind_t kind;
    if (wh_module_import(m, i, &mod, &name, &kind) != 0)
      fuzz_fail("wh_module_import(%u) of %u failed", i, n);
    if (!mod || !name || kind > WH_EXTERN_GLOBAL)
      fuzz_fail("import %u: bad module, name or kind", i);
    h = h * 31 + fnv1a((const uint8_t *)mod, strlen(mod)) + fnv1a((const uint8_t *)name, strlen(name)) + kind;
  }
  n = wh_module_export_count(m);
  for (uint32_t i = 0; i < n; i++) {
    const char *name = NULL, *params = NULL, *results = NULL;
    wh_externkind_t kind;
    if (wh_module_export(m, i, &name, &kind) != 0)
      fuzz_fail("wh_module_export(%u) of %u failed", i, n);
    if (!name || kind > WH_EXTERN_GLOBAL) fuzz_fail("export %u: bad name or kind", i);
    h = h * 31 + fnv1a((const uint8_t *)name, strlen(name)) + kind;
    if (kind != WH_EXTERN_FUNC) continue;
    if (wh_module_export_functype(m, name, &params, &results) != 0)
      fuzz_fail("export %u (\"%s\") is a func but has no functype", i, name);
    check_sig(params, "export params");
    check_sig(results, "export results");
    h = h * 31 + fnv1a((const uint8_t *)params, strlen(params));
    h = h * 31 + fnv1a((const uint8_t *)results, strlen(results));
  }
  return h;
}

static void fix_checksum(uint8_t *blob, size_t len, size_t payload_at) {
  unsigned int dlen = 32;
  if (!EVP_Digest(blob + payload_at, len - payload_at, blob + payload_at - 32, &dlen,
                  EVP_sha256(), NULL))
    fuzz_fail("EVP_Digest failed");
}

static void blob_checks(const wh_module_t *m, uint64_t digest, uint64_t seed) {
  uint8_t *blob = NULL, *blob2 = NULL;
  size_t len = 0, len2 = 0;
  wh_diag_t diag;
  int rc = wh_module_serialize(m, &blob, &len);
  if (rc == WH_ENOMEM) return;
  if (rc != 0) fuzz_fail("wh_module_serialize failed: %s", wh_errname(rc));

  wh_module_t *m2 = wh_module_deserialize(engine, blob, len, &diag);
  if (!m2) {
    if (diag.code == WH_ENOMEM) goto done;
    fuzz_fail("a fresh blob does not load: %s: %s", wh_errname(diag.code), diag.msg);
  }
  if (list_externs(m2) != digest) fuzz_fail("deserialized module lists other externs");
  rc = wh_module_serialize(m2, &blob2, &len2);
  wh_module_free(m2);
  if (rc == 0 && (len2 != len || memcmp(blob, blob2, len) != 0))
    fuzz_fail("serialize(deserialize(blob)) differs from blob (%zu vs %zu bytes)", len2, len);
  free(blob2);

  uint32_t fplen;
  memcpy(&fplen, blob + 12, 4);
  size_t payload_at = 56 + (size_t)fplen;
  if (payload_at >= len) goto done;

  /* Truncated: the length check must catch it. */
  size_t cut = payload_at + next_rand(&seed) % (len - payload_at);
  m2 = wh_module_deserialize(engine, blob, cut, &diag);
  if (m2) fuzz_fail("a blob cut to %zu of %zu bytes loaded", cut, len);
  check_diag(&diag, cut, true);

  /* Corrupt payload with a valid checksum: the loader's index and code
   * checks must hold. */
  int flips = 1 + (int)(next_rand(&seed) % 4);
  for (int i = 0; i < flips; i++) {
    size_t at = payload_at + next_rand(&seed) % (len - payload_at);
    uint8_t x = (uint8_t)next_rand(&seed);
    blob[at] ^= x ? x : 1;
  }
  fix_checksum(blob, len, payload_at);
  m2 = wh_module_deserialize(engine, blob, len, &diag);
  if (m2) {
    list_externs(m2);
    wh_module_free(m2);
  } else {
    check_diag(&diag, len, true);
  }
done:
  free(blob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wh_diag_t diag;
  memset(&diag, 0xa5, sizeof diag);
  wh_module_t *m = wh_module_new(engine, data, size, &diag);
  if (!m) {
    check_diag(&diag, size, false);
    return 0;
  }
  uint64_t digest = list_externs(m);
  blob_checks(m, digest, fnv1a(data, size));
  wh_module_free(m);
  return 0;
}
