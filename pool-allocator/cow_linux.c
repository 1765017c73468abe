/*
 * cow_linux.c - copy-on-write memory images on Linux: a sealed memfd per
 * module, mapped MAP_PRIVATE|MAP_FIXED into memory slots.
 *
 * madvise(MADV_DONTNEED) on such a private mapping drops the pages an
 * instance wrote; the next read sees the file again, i.e. the module's
 * initial memory.  The memfd is sealed against writes, shrinking and
 * growing, so no one can change an image under a live instance.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pool_int.h"

#define PAGE 4096u

wh_pool_image_t *wh_pool__image_create(wh_pool_t *p, const uint8_t *bytes,
                                       size_t len, int *rc) {
  wh_pool_image_t *img = calloc(1, sizeof *img);
  if (!img) {
    *rc = WH_ENOMEM;
    return NULL;
  }
  img->pool = p;
  img->fd = -1;
  img->warm_head = UINT32_MAX;
  atomic_store(&img->refs, 1);
  if (len == 0) return img;               /* all-zero initial memory */
  img->len = (len + PAGE - 1) & ~(uint64_t)(PAGE - 1);
  img->fd = memfd_create("wharf-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (img->fd < 0) goto fail;
  if (ftruncate(img->fd, (off_t)img->len) != 0) goto fail;
  for (size_t off = 0; off < len;) {
    ssize_t n = pwrite(img->fd, bytes + off, len - off, (off_t)off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) goto fail;
    off += (size_t)n;
  }
  if (fcntl(img->fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    goto fail;
  return img;
fail:
  *rc = errno == ENOMEM ? WH_ENOMEM : WH_EIO;
  if (img->fd >= 0) close(img->fd);
  free(img);
  return NULL;
}

void wh_pool__image_close(wh_pool_image_t *img) {
  if (img->fd >= 0) close(img->fd);
  img->fd = -1;
}

int wh_pool__image_map(const wh_pool_image_t *img, uint8_t *at) {
  if (img->len == 0) return 0;
  void *q = mmap(at, img->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
                 img->fd, 0);
  return q == MAP_FAILED ? (errno == ENOMEM ? WH_ENOMEM : WH_EIO) : 0;
}

int wh_pool__unmap(uint8_t *at, uint64_t len) {
  if (len == 0) return 0;
  void *q = mmap(at, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
                 -1, 0);
  return q == MAP_FAILED ? WH_ENOMEM : 0;
}
