/*
 * cow_linux.c - copy-on-write memory images on Linux: a sealed memfd per
 * module, mapped MAP_PRIVATE|MAP_FIXED into memory slots.
 *
 * madvise(MADV_DONTNEED) on such a private mapping drops the pages an
 * instance wrote; the next read sees the file again, i.e. the module's
 * initial memory.  The memfd is sealed against writes, shrinking and
 * growing, so no one can change an image under a live instance.
 *
 * Resetting a slot without madvise: the PAGEMAP_SCAN ioctl (Linux 6.7+)
 * lists the slot's present pages with their kind.  A page of a private
 * file mapping that was written became anonymous; a page only read is
 * still the file's (PAGE_IS_FILE) or the shared zero page
 * (PAGE_IS_PFNZERO).  Only the written ones need work.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

/* ---- dirty-page reset (PAGEMAP_SCAN; declared here, as Debian 12's
 * kernel headers predate it) ------------------------------------------------ */

struct scan_region {
  uint64_t start, end, categories;
};

struct scan_arg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

#define SCAN_IOCTL _IOWR('f', 16, struct scan_arg)
#define PAGE_IS_FILE (1u << 2)
#define PAGE_IS_PRESENT (1u << 3)
#define PAGE_IS_PFNZERO (1u << 5)

/* /proc/self/pagemap names the process that opened it: a forked child
 * must open its own, so the fd is keyed by pid. */
static int pagemap_fd = -1;
static pid_t pagemap_pid;
static pthread_mutex_t pagemap_lock = PTHREAD_MUTEX_INITIALIZER;

static void open_pagemap(void) {
  if (pagemap_fd >= 0) close(pagemap_fd);
  pagemap_fd = -1;
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct scan_region r;
  struct scan_arg probe = {.size = sizeof probe, .start = 0, .end = 0,
                           .vec = (uint64_t)(uintptr_t)&r, .vec_len = 1,
                           .category_mask = PAGE_IS_PRESENT, .return_mask = PAGE_IS_PRESENT};
  if (ioctl(fd, SCAN_IOCTL, &probe) < 0 && (errno == ENOTTY || errno == EINVAL)) {
    close(fd);
    return;                       /* kernel without PAGEMAP_SCAN */
  }
  pagemap_fd = fd;
}

/* Restores [off, off+n) of a slot: from the image below its length,
 * zeros above. */
static int restore(const wh_pool_image_t *img, uint8_t *at, uint64_t off, uint64_t n) {
  uint64_t img_len = img ? img->len : 0;
  if (off < img_len) {
    uint64_t k = n < img_len - off ? n : img_len - off;
    for (uint64_t done = 0; done < k;) {
      ssize_t got = pread(img->fd, at + off + done, k - done, (off_t)(off + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return WH_EIO;
      done += (uint64_t)got;
    }
    off += k;
    n -= k;
  }
  if (n) memset(at + off, 0, n);
  return 0;
}

int wh_pool__reset_dirty(const wh_pool_image_t *img, uint8_t *at, uint64_t len,
                         uint64_t budget) {
  pid_t me = getpid();
  pthread_mutex_lock(&pagemap_lock);
  if (pagemap_pid != me) {
    open_pagemap();
    pagemap_pid = me;
  }
  int fd = pagemap_fd;
  pthread_mutex_unlock(&pagemap_lock);
  if (fd < 0) return WH_EUNSUPPORTED;
  struct scan_region regions[32];
  struct {
    uint64_t off, n;
  } dirty[32];
  uint32_t ndirty = 0;
  uint64_t total = 0, pos = (uint64_t)(uintptr_t)at, end = pos + len;
  while (pos < end) {
    struct scan_arg a = {.size = sizeof a, .start = pos, .end = end,
                         .vec = (uint64_t)(uintptr_t)regions, .vec_len = 32,
                         .category_mask = PAGE_IS_PRESENT,
                         .return_mask = PAGE_IS_PRESENT | PAGE_IS_FILE | PAGE_IS_PFNZERO};
    int n = ioctl(fd, SCAN_IOCTL, &a);
    if (n < 0) return WH_EUNSUPPORTED;
    for (int k = 0; k < n; k++) {
      if (regions[k].categories & (PAGE_IS_FILE | PAGE_IS_PFNZERO)) continue;
      uint64_t sz = regions[k].end - regions[k].start;
      total += sz;
      if (total > budget || ndirty == 32) return WH_ELIMIT;
      dirty[ndirty].off = regions[k].start - (uint64_t)(uintptr_t)at;
      dirty[ndirty++].n = sz;
    }
    if (a.walk_end <= pos) return WH_EUNSUPPORTED;   /* no progress */
    pos = a.walk_end;
  }
  /* scanned everything first: on WH_ELIMIT nothing was touched */
  for (uint32_t k = 0; k < ndirty; k++) {
    int rc = restore(img, at, dirty[k].off, dirty[k].n);
    if (rc) return rc;
  }
  return 0;
}
