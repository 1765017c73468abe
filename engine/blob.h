/*
 * blob.h - what serialize.c shares with cache.c (engine-internal, not
 * installed): the checksum both use, the blob format version the cache
 * keys on, and a load path for blobs whose checksum the caller checked.
 *
 * The checksum guards against corruption (a flipped bit, a torn write, a
 * truncated file), not against an attacker who can write the cache
 * directory; that directory must be wharfd's alone.  So it is a fast
 * 64-bit hash (XXH64's construction, ~10 GB/s) rather than SHA-256
 * (~1.5 GB/s here), which cost more than half of tier 0's compile time on
 * every load.  Every operand of the code is still checked on load, so a
 * blob that passes the checksum still cannot make the interpreter step
 * outside its frame, its code or the module's tables.
 */
#ifndef WH_BLOB_H
#define WH_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "wh_engine.h"

/* The 64-bit checksum of `n` bytes (XXH64 with seed 0). */
uint64_t wh__sum64(const void *p, size_t n);

/* The format version of wh_module_serialize's blobs (WH_BLOB_VERSION). */
uint32_t wh__blob_version(void);

/* wh_module_deserialize for a blob whose bytes the caller has verified
 * already (the cache checks each artifact's checksum against its index):
 * the blob's own payload checksum is not computed again.  Everything else
 * (magic, version, fingerprint, lengths, every index and operand) is
 * checked as usual.  `blob` is borrowed and may be a read-only mapping. */
wh_module_t *wh__module_deserialize_verified(wh_engine_t *e, const uint8_t *blob,
                                             size_t len, wh_diag_t *diag);

#endif /* WH_BLOB_H */
